"""An output that fails a hard check was rendered, so its price is captured; then refunded at once
when it is broken (BILLING_REFUND_BROKEN_OUTPUTS, on by default) or blocked by safety. Failures
that produced no output release the hold, as before. Every reservation resolves exactly once."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from billing.models import CreditAccount, LedgerEntry, Reservation
from billing.reports import margin_report
from billing.selectors import credit_accounts_out_of_balance
from jobs.models import Take
from studio.services.images import character_image_add
from studio.services.projects import character_create, shot_update
from studio.services.takes import shot_take_request
from tests.factories import shot_for
from tests.jobs.test_pipeline import png_upload, take_run_and_evaluate
from tests.jobs.test_remote_pipeline import drive, runway  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def broken_take(catalog, creator, project, shot) -> Take:
    """A take whose animatic comes out all black: rendered (and paid for), but broken."""
    shadow = character_create(project=project, name="Shadow")
    character_image_add(character=shadow, upload=png_upload((0, 0, 0)))
    shot_update(shot=shot, characters=[shadow], camera="static")
    return shot_take_request(user=creator, shot=shot)


def ledger_of(take: Take) -> list[tuple[str, int, int]]:
    entries = LedgerEntry.objects.filter(reservation_id=take.reservation_id).order_by("id")
    return list(entries.values_list("kind", "amount", "held"))


def test_a_broken_output_is_charged_then_refunded_in_the_ledger(broken_take, creator):
    take = take_run_and_evaluate(broken_take.pk)
    price, hold = take.price_credits, take.reservation.amount
    assert take.state == "failed" and price > 0
    assert ledger_of(take) == [("reserve", 0, hold), ("capture", -price, -hold), ("refund", price, 0)]
    refund = Reservation.objects.get(pk=take.reservation_id).refund
    assert (refund.reason, refund.amount) == ("broken_output", price)
    assert refund.note == "failed check not_black: The video is all black."
    assert refund.entry.reason.endswith(": Technically broken output")
    assert f"The video is all black. Your {price} credits were refunded." in take.failure_reason
    assert take.evaluation["gates"]["technical"]["passed"] is False  # the card's breakdown still shows why
    assert CreditAccount.objects.get(user=creator).balance == 500
    assert credit_accounts_out_of_balance() == []


def test_the_margin_report_keeps_the_cost_of_a_refunded_output(broken_take):
    take = take_run_and_evaluate(broken_take.pk)
    now = timezone.now()
    (row,) = margin_report(start=now - timedelta(hours=1), end=now + timedelta(hours=1))
    assert (row.takes, row.charged_credits, row.refunded_credits) == (1, 0, take.price_credits)
    assert row.provider_cost_usd == Decimal(take.provider_cost_usd_micros) / 1_000_000 > 0
    assert row.margin_usd < 0


def test_with_refunds_off_the_creator_is_charged_for_a_broken_output(broken_take, creator, settings):
    settings.BILLING_REFUND_BROKEN_OUTPUTS = False
    take = take_run_and_evaluate(broken_take.pk)
    price = take.price_credits
    assert [kind for kind, _, _ in ledger_of(take)] == ["reserve", "capture"]
    assert not hasattr(Reservation.objects.get(pk=take.reservation_id), "refund")
    assert f"The {price} credits were charged: the video was rendered." in take.failure_reason
    assert CreditAccount.objects.get(user=creator).balance == 500 - price
    assert credit_accounts_out_of_balance() == []


def test_an_unplayable_download_is_charged_and_refunded_with_nothing_stored(runway, creator, project, monkeypatch, tmp_path):  # noqa: F811
    garbage = tmp_path / "take.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not a video" * 100)
    monkeypatch.setattr(runway, "output_path", lambda job: Path(garbage))  # the vendor delivers a broken file
    take = drive(shot_take_request(user=creator, shot=shot_for(project)).pk)
    assert take.state == "failed" and not take.video
    assert take.evaluation["technical"]["decodes"]["passed"] is False
    assert [kind for kind, _, _ in ledger_of(take)] == ["reserve", "capture", "refund"]
    assert Reservation.objects.get(pk=take.reservation_id).refund.note.startswith("failed check decodes: ")
    assert CreditAccount.objects.get(user=creator).balance == 500
    assert credit_accounts_out_of_balance() == []


def test_a_failure_without_an_output_still_releases_the_hold(runway, creator, project):  # noqa: F811
    shot = shot_for(project, subject="[sandbox:policy] a forbidden scene")
    take = drive(shot_take_request(user=creator, shot=shot).pk)
    assert take.state == "failed" and not take.evaluation
    assert [kind for kind, _, _ in ledger_of(take)] == ["reserve", "release"]
    assert not Take.objects.filter(source_take=take).exists()  # a refusal is not a failed check
    assert credit_accounts_out_of_balance() == []
