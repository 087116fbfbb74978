"""Forms parse and validate what creators type; saving goes through studio.services."""

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator

from jobs.pipeline.request import BEST_OF_MAX
from studio.models import CharacterReference, ProductionRun, Project, Shot
from studio.services.shot_import import SHOT_IMPORT_MAX_BYTES, SHOT_IMPORT_MAX_ROWS
from studio.services.storyboard import DraftScope


class SignupForm(UserCreationForm):
    email = forms.EmailField(label="Email", help_text="For receipts and account recovery.")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ("name", "description")
        labels = {"name": "Project name", "description": "Description (optional)"}
        widgets = {
            "name": forms.TextInput(attrs={"placeholder": "e.g. Night market teaser", "autofocus": True}),
            "description": forms.Textarea(attrs={"rows": 3, "placeholder": "What is this film about?"}),
        }


class ShotForm(forms.ModelForm):
    duration_seconds = forms.IntegerField(
        label="Duration (seconds)",
        min_value=Shot.MIN_DURATION_SECONDS,
        max_value=Shot.MAX_DURATION_SECONDS,
        initial=5,
        help_text=f"{Shot.MIN_DURATION_SECONDS}–{Shot.MAX_DURATION_SECONDS} seconds.",
    )

    class Meta:
        model = Shot
        fields = ("title", "subject", "scene", "camera", "motion", "duration_seconds", "style", "negative",
                  "aspect_ratio", "characters")
        labels = {
            "title": "Title",
            "subject": "Subject",
            "scene": "Scene (optional)",
            "camera": "Camera move",
            "motion": "Motion (optional)",
            "style": "Style (optional)",
            "negative": "Avoid (optional)",
            "aspect_ratio": "Aspect ratio",
            "characters": "Characters in this shot",
        }
        widgets = {
            "title": forms.TextInput(attrs={"placeholder": "e.g. Opening"}),
            "subject": forms.Textarea(attrs={"rows": 2, "placeholder": "A lantern seller under neon signs"}),
            "scene": forms.Textarea(attrs={"rows": 2, "placeholder": "Rainy night market, steam in the air"}),
            "motion": forms.Textarea(attrs={"rows": 2, "placeholder": "Steam rises, then she looks up"}),
            "style": forms.TextInput(attrs={"placeholder": "cinematic, 35mm, warm"}),
            "negative": forms.TextInput(attrs={"placeholder": "text, watermark"}),
            "characters": forms.CheckboxSelectMultiple,
        }

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["characters"].queryset = CharacterReference.objects.filter(project=project).order_by("name", "id")
        self.fields["characters"].required = False
        self.fields["characters"].help_text = ""

    def service_fields(self) -> dict:
        """The cleaned values in the shape studio.services.projects.shot_create/shot_update take."""
        fields = {name: self.cleaned_data[name] for name in self.Meta.fields if name != "characters"}
        return {**fields, "characters": list(self.cleaned_data["characters"])}


class CharacterForm(forms.Form):
    name = forms.CharField(label="Character name", max_length=80)
    description = forms.CharField(label="Description (optional)", max_length=500, required=False)


class ReferenceImageForm(forms.Form):
    image = forms.FileField(label="Reference image", help_text="JPEG, PNG or WebP, up to 10 MB.")


class ShotImportForm(forms.Form):
    file = forms.FileField(label="Shot list (CSV or JSON)",
                           help_text=f"UTF-8, one row per shot, up to {SHOT_IMPORT_MAX_ROWS} shots.",
                           widget=forms.ClearableFileInput(attrs={"accept": ".csv,.json,text/csv,application/json"}))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > SHOT_IMPORT_MAX_BYTES:  # refused before it is read
            raise ValidationError(f"The file is {upload.size // 1024:,} KB; a shot list may be up to "
                                  f"{SHOT_IMPORT_MAX_BYTES // 1024} KB ({SHOT_IMPORT_MAX_ROWS} shots). Nothing was imported.")
        return upload


class TakeRequestForm(forms.Form):
    idempotency_key = forms.CharField(max_length=255, required=False)
    tier = forms.ChoiceField(choices=[("draft", "Draft"), ("animatic", "Animatic")], required=False,
                             help_text="An animatic is a near-free block-out of timing and framing, not an AI draft")
    fresh = forms.BooleanField(required=False, help_text="A new seed and a new render, even if this exact draft exists")


class BestOfForm(forms.Form):
    idempotency_key = forms.CharField(max_length=255, required=False)
    count = forms.TypedChoiceField(coerce=int, choices=[(n, f"Best of {n}") for n in range(2, BEST_OF_MAX + 1)],
                                   error_messages={"invalid_choice": f"Choose 2 to {BEST_OF_MAX} drafts."})


class StoryboardDraftForm(forms.Form):
    """What the creator saw and confirmed: these shots at this price, under one batch key."""

    shots = forms.ModelMultipleChoiceField(queryset=Shot.objects.none(), widget=forms.MultipleHiddenInput,
                                           error_messages={"required": "There is no shot to draft."})
    shown_credits = forms.IntegerField(min_value=0, widget=forms.HiddenInput)
    batch_key = forms.UUIDField(widget=forms.HiddenInput)
    scope = forms.ChoiceField(choices=DraftScope.choices, initial=DraftScope.WAITING, required=False)
    tier = forms.ChoiceField(choices=[("draft", "Draft"), ("animatic", "Animatic")], required=False)

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["shots"].queryset = project.shots.select_related("project").order_by("position", "id")

    def clean_scope(self) -> str:
        return self.cleaned_data["scope"] or DraftScope.WAITING

    def clean_tier(self) -> str:
        return self.cleaned_data["tier"] or "draft"


class ProjectBudgetForm(forms.Form):
    MAX_CAP_CREDITS = 100_000_000

    cap_credits = forms.IntegerField(
        label="Spending cap (credits)", required=False, min_value=1, max_value=MAX_CAP_CREDITS,
        widget=forms.NumberInput(attrs={"min": 1, "step": 1, "inputmode": "numeric", "placeholder": "e.g. 1000"}),
        error_messages={
            "invalid": "Enter a whole number of credits, like 1000.",
            "min_value": "A cap is at least 1 credit. To let the project spend freely, remove the cap instead.",
            "max_value": f"A cap can be at most {MAX_CAP_CREDITS:,} credits.",
        },
    )
    clear = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("clear"):
            cleaned["cap_credits"] = None
        elif cleaned.get("cap_credits") is None and "cap_credits" not in self.errors:
            self.add_error("cap_credits", "Enter a cap in credits, or remove the cap.")
        return cleaned


def form_error_add(form: forms.Form, error: ValidationError) -> None:
    """Attach a service's ValidationError to the form: per field where the form has the field."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages)
    else:
        form.add_error(None, error)


class RunStartForm(forms.Form):
    mode = forms.ChoiceField(choices=ProductionRun.Mode.choices, initial=ProductionRun.Mode.AUTOPILOT)
    drafts_per_shot = forms.TypedChoiceField(coerce=int, choices=[(n, f"{n} drafts") for n in range(1, 5)], initial=3)
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)


# --- Review through share links -----------------------------------------------------------------


class ShareLinkForm(forms.Form):
    label = forms.CharField(label="Who is it for?", max_length=80,
                            widget=forms.TextInput(attrs={"placeholder": "e.g. Client — Acme"}))
    days = forms.IntegerField(label="Expires after (days)", min_value=1, initial=14)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        days = self.fields["days"]  # the limits are settings, read when the form is made
        days.initial = settings.SHARE_LINK_DAYS
        days.validators.append(MaxValueValidator(settings.SHARE_LINK_MAX_DAYS))
        days.widget.attrs["max"] = settings.SHARE_LINK_MAX_DAYS


class ReviewerNameForm(forms.Form):
    name = forms.CharField(label="Your name", max_length=60, widget=forms.TextInput(attrs={"autocomplete": "name"}))


class ReviewCommentForm(forms.Form):
    """Comment text is limited by the service too (studio.services.review); here it gets a clear message."""

    body = forms.CharField(label="Comment", max_length=1000, strip=True, widget=forms.Textarea(attrs={"rows": 3}))
    take = forms.IntegerField(required=False, min_value=1)
    at_ms = forms.IntegerField(required=False, min_value=0)


class ReviewDecisionForm(forms.Form):
    verdict = forms.ChoiceField(choices=[("approved", "Approve"), ("changes_requested", "Request changes")])


class ReviewReplyForm(forms.Form):
    body = forms.CharField(label="Reply", max_length=1000, strip=True, widget=forms.Textarea(attrs={"rows": 2}))
