"""A take the safety check is unsure about, through the real pipeline: rendered by the local
animatic from a public-domain photo (scikit-image's astronaut), checked by NudeNet's shipped
detector, with FACE_FEMALE made a doubtful-only label through EVALUATION_SAFETY_THRESHOLDS (review
at 0.3, block at 0.99, which the photo never reaches). No explicit image is needed."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from billing.models import LedgerEntry
from billing.selectors import credit_accounts_out_of_balance
from jobs.models import Take, TakeDecision
from studio.services.images import character_image_add
from studio.services.projects import character_create, shot_update
from studio.services.takes import shot_take_request, take_approve, take_reject
from tests.jobs.test_pipeline import take_run_and_evaluate

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the sample photo these tests use")

pytestmark = pytest.mark.django_db

FACE_DOUBTFUL = {"FACE_FEMALE": (0.3, 0.99)}


def astronaut_upload() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.fromarray(skimage_data.astronaut()).save(buffer, format="PNG")
    return SimpleUploadedFile("astronaut.png", buffer.getvalue(), content_type="image/png")


@pytest.fixture
def astronaut_shot(project, shot):
    """A shot whose character reference is the photo: the animatic renders it, moving."""
    pilot = character_create(project=project, name="Pilot")
    character_image_add(character=pilot, upload=astronaut_upload())
    shot_update(shot=shot, characters=[pilot])
    return shot


def ledger_of(take: Take) -> list[tuple[str, int, int]]:
    return list(LedgerEntry.objects.filter(reservation_id=take.reservation_id).order_by("id")
                .values_list("kind", "amount", "held"))  # fmt: skip


def test_a_take_needing_review_is_delivered_charged_and_left_to_the_creator(catalog, creator, astronaut_shot, settings):
    settings.EVALUATION_SAFETY_THRESHOLDS = FACE_DOUBTFUL

    take = take_run_and_evaluate(shot_take_request(user=creator, shot=astronaut_shot).pk)

    assert take.state == "ready", take.failure_reason
    assert take.evaluation["outcome"] == "needs_review" and take.evaluation["passed"] is False
    assert take.evaluation["gates"]["safety"]["outcome"] == "needs_review"
    assert take.evaluation["reasons"][0].startswith("Check this video before using it: the safety check was unsure")
    assert take.events.order_by("-id").first().detail.startswith("needs the creator's review: Check this video")
    assert take.regeneration == "" and not Take.objects.filter(source_take=take).exists()  # not regenerated
    assert [kind for kind, _, _ in ledger_of(take)] == ["reserve", "capture"]  # charged as rendered, not refunded
    before = ledger_of(take)

    take_approve(take=take)

    take.refresh_from_db()
    assert take.review == "approved"
    assert ledger_of(take) == before  # the creator's decision touches no credits
    decision = TakeDecision.objects.get(take=take)
    assert (decision.decision, decision.outcome, decision.gates["safety"]) == ("approved", "needs_review", "needs_review")
    assert decision.metrics["sharpness"] is not None and decision.aggregate == take.evaluation["aggregate"]
    assert credit_accounts_out_of_balance() == []


def test_the_same_render_passes_without_the_doubtful_label_and_blocks_with_a_clear_one(catalog, creator, astronaut_shot,
                                                                                      settings):  # fmt: skip
    passed = take_run_and_evaluate(shot_take_request(user=creator, shot=astronaut_shot).pk)
    settings.EVALUATION_SAFETY_THRESHOLDS = {"FACE_FEMALE": (0.3, 0.35)}
    blocked = take_run_and_evaluate(shot_take_request(user=creator, shot=astronaut_shot, fresh=True).pk)

    assert passed.state == "ready" and passed.evaluation["outcome"] == "pass"
    assert blocked.state == "failed" and blocked.evaluation["outcome"] == "block"
    assert blocked.failure_reason.startswith("The video was flagged as unsafe: FACE_FEMALE on ")
    assert "refund" in [kind for kind, _, _ in ledger_of(blocked)]  # a clear violation is refunded as before


def test_rejecting_a_take_needing_review_is_recorded_and_refunds_nothing(catalog, creator, astronaut_shot, settings):
    settings.EVALUATION_SAFETY_THRESHOLDS = FACE_DOUBTFUL
    take = take_run_and_evaluate(shot_take_request(user=creator, shot=astronaut_shot).pk)
    before = ledger_of(take)

    take_reject(take=take)
    take_reject(take=Take.objects.get(pk=take.pk))  # a repeated click

    assert ledger_of(take) == before
    assert list(TakeDecision.objects.filter(take=take).values_list("decision", flat=True)) == ["rejected"]
