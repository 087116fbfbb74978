"""What a credits-history line was for, in the creator's words: billing records `take:<public id>`
and knows no shots (it imports no sibling app); its credits page asks this function, named in
settings.LEDGER_REFERENCE_DESCRIBER, to name and link a page's references in one query."""

from django.urls import reverse

from jobs.models import Take

TAKE_PREFIX = "take:"


def ledger_references_describe(*, user_id: int, references: list[str]) -> dict[str, dict]:
    """reference → {"label": "Shot 2 · Harbour, take #14", "url": …} for the user's own takes."""
    public_ids = {reference[len(TAKE_PREFIX):]: reference for reference in references if reference.startswith(TAKE_PREFIX)}
    takes = (Take.objects.filter(owner_id=user_id, public_id__in=[pid for pid in public_ids if _is_uuid(pid)])
             .select_related("shot").only("id", "public_id", "shot__id", "shot__position", "shot__title"))
    return {public_ids[str(take.public_id)]: {
        "label": f"Shot {take.shot.position} · {take.shot.title}, take #{take.pk}",
        "url": reverse("shot-detail", args=[take.shot_id]) + f"#take-{take.pk}",
    } for take in takes}


def _is_uuid(text: str) -> bool:
    import uuid

    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
