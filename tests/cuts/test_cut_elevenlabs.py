"""A cut whose voice-over and music come from ElevenLabs (its emulator, in sandbox mode), priced
in credits through the ledger: held when queued, captured when ready, released when it fails."""

import pytest
from django.conf import settings

from billing.models import LedgerEntry
from billing.selectors import credit_account_for_user
from providers.audio.prices import ELEVENLABS_MUSIC, ELEVENLABS_SPEECH
from providers.emulators.elevenlabs import ElevenLabsEmulator
from providers.emulators.sandbox import SANDBOX_API_KEY
from studio.cuts.assembly import cut_entry_update, cut_format_update
from studio.cuts.exceptions import CutLineTooLong, CutNotReady
from studio.cuts.models import RenderState
from studio.cuts.plan import cut_inputs
from studio.cuts.rendering import cut_render_request, cut_render_run
from tests.cuts.media import video_facts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def elevenlabs(settings):
    with ElevenLabsEmulator(api_key=SANDBOX_API_KEY) as emulator:
        settings.PROVIDER_SANDBOX_URLS = {**settings.PROVIDER_SANDBOX_URLS, "elevenlabs": emulator.url}
        yield emulator


@pytest.fixture
def voiced_cut(three_shot_cut):
    cut_format_update(cut=three_shot_cut, aspect_ratio="16:9", resolution="480p", fps=24, music="elevenlabs",
                      voice="elevenlabs", music_prompt="lanterns and rain")
    first = three_shot_cut.entries.order_by("position").first()
    cut_entry_update(entry=first, in_ms=0, out_ms=0, transition="cut", transition_ms=0, line="Night falls.")
    return three_shot_cut


def ledger(user) -> list[tuple[str, int, int]]:
    return list(LedgerEntry.objects.filter(account__user=user).exclude(kind="grant").order_by("id")
                .values_list("kind", "amount", "held"))


def test_elevenlabs_audio_is_held_then_charged_and_mixed_into_the_cut(voiced_cut, elevenlabs):
    owner = voiced_cut.project.owner
    before = credit_account_for_user(user_id=owner.pk).balance
    render = cut_render_request(cut=voiced_cut)

    # 1 s of speech ("Night falls." read at ~15 characters a second) and 6 s of music, marked up.
    cost_usd = (1 * ELEVENLABS_SPEECH.usd_micros_per_second + 6 * ELEVENLABS_MUSIC.usd_micros_per_second) / 1e6
    assert render.price_credits >= cost_usd / float(settings.CREDIT_VALUE_USD_DECIMAL) > 0
    assert ledger(owner) == [("reserve", 0, render.price_credits)]

    render = cut_render_run(render_id=render.pk)
    assert render.state == RenderState.READY, render.failure_reason
    assert ledger(owner) == [("reserve", 0, render.price_credits), ("capture", -render.price_credits, -render.price_credits)]
    assert credit_account_for_user(user_id=owner.pk).balance == before - render.price_credits
    paths = [request.path for request in elevenlabs.requests_seen]
    assert paths.count("/v1/music") == 1 and sum(p.startswith("/v1/text-to-speech/") for p in paths) == 1
    assert video_facts(render.video.path)["has_audio"]

    again = cut_render_request(cut=voiced_cut)  # the same inputs: reused, not charged again
    assert again.pk == render.pk and len(ledger(owner)) == 2


def test_a_vendor_failure_fails_the_render_and_gives_the_credits_back(voiced_cut, elevenlabs):
    owner = voiced_cut.project.owner
    render = cut_render_request(cut=voiced_cut)
    elevenlabs.inject("submit", "500", times=5)
    render = cut_render_run(render_id=render.pk)
    assert render.state == RenderState.FAILED and "ElevenLabs" in render.failure_reason and not render.video
    assert [kind for kind, _, _ in ledger(owner)] == ["reserve", "release"]


def test_without_a_key_or_sandbox_the_render_is_refused_before_any_hold(voiced_cut, settings):
    settings.PROVIDER_SANDBOX_URLS = {}
    settings.PROVIDER_SETTINGS = {**settings.PROVIDER_SETTINGS, "elevenlabs": {"api_key": "", "base_url": ""}}
    with pytest.raises(CutNotReady, match="ElevenLabs is not configured"):
        cut_render_request(cut=voiced_cut)
    assert ledger(voiced_cut.project.owner) == []


def test_an_elevenlabs_line_too_long_is_flagged_from_its_length_before_paying(voiced_cut, elevenlabs):
    first = voiced_cut.entries.order_by("position").first()
    cut_entry_update(entry=first, in_ms=0, out_ms=0, transition="cut", transition_ms=0,
                     line="A line of some sixty characters will not fit in two seconds.")
    with pytest.raises(CutLineTooLong, match=r"needs 4\.\d s but the shot lasts 2\.0 s"):
        cut_inputs(voiced_cut)
    assert elevenlabs.requests_seen == []
