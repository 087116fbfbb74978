"""The upscalers' contracts: fal's video-upscaler and Runway's /v1/video_upscale, each adapter
against its emulator. The emulators really enlarge the video they are sent, so these check the
wire shape, the errors, and that what comes back is the same clip at the promised size."""

import base64
from pathlib import Path

import av
import pytest

from jobs.media import video_size
from providers.adapters.fal import FalAdapter
from providers.adapters.runway import RunwayAdapter
from providers.base import BadRequest, GenerationRequest, JobState, RenderRequest
from providers.emulators.fal import FalEmulator
from providers.emulators.runway import RunwayEmulator
from providers.emulators.upscale import upscaled_size
from providers.local.animatic import render_animatic
from tests.contract.conftest import wait_for_state


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A real 1-second 16:9 clip from the local animatic (854×480, 24 fps)."""
    request = RenderRequest(prompt="", negative_prompt="", duration_seconds=1, aspect_ratio="16:9", camera="pan_left",
                            seed=3, title="upscale source")
    return render_animatic(request, output_dir=tmp_path_factory.mktemp("source")).video_path


def data_url(path: Path) -> str:
    return "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()


def upscale_request(model_id: str, video_url: str | None) -> GenerationRequest:
    return GenerationRequest(model_id=model_id, prompt="ignored by upscalers", negative_prompt="", duration_seconds=1,
                             aspect_ratio="16:9", idempotency_key="take-9-attempt-1", video_url=video_url)


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.fixture(scope="module")
def fal():
    with FalEmulator(latency_seconds=0.5) as running:
        yield running


@pytest.fixture(scope="module")
def runway():
    with RunwayEmulator(latency_seconds=0.5) as running:
        yield running


def test_fal_upscales_the_sent_video_twice_over_frame_for_frame(fal, source, tmp_path):
    adapter = FalAdapter(api_key="fal-key", base_url=fal.url, timeout=5.0, jwks_url=f"{fal.url}/.well-known/jwks.json")
    submitted = adapter.submit(upscale_request("fal-ai/video-upscaler", data_url(source)))
    [sent] = [seen.json() for seen in fal.requests_seen if seen.path == "/fal-ai/video-upscaler"]
    assert sent == {"video_url": data_url(source), "scale": 2}  # no prompt: fal's schema has none
    done = wait_for_state(adapter, submitted.job_id, {JobState.SUCCEEDED, JobState.FAILED})
    assert done.state == JobState.SUCCEEDED, done
    output = adapter.fetch_output(done, tmp_path / "upscaled.mp4", max_bytes=50_000_000)
    assert video_size(output) == (1708, 960)
    assert frame_count(output) == frame_count(source)


def test_runway_upscales_four_times_and_keeps_within_4k(runway, source, tmp_path):
    adapter = RunwayAdapter(api_key="key_" + "ab" * 64, base_url=runway.url, timeout=5.0)
    submitted = adapter.submit(upscale_request("upscale_v1", data_url(source)))
    [sent] = [seen.json() for seen in runway.requests_seen if seen.path == "/v1/video_upscale"]
    assert sent == {"model": "upscale_v1", "videoUri": data_url(source)}
    done = wait_for_state(adapter, submitted.job_id, {JobState.SUCCEEDED, JobState.FAILED}, timeout=60)
    assert done.state == JobState.SUCCEEDED, done
    output = adapter.fetch_output(done, tmp_path / "upscaled.mp4", max_bytes=200_000_000)
    assert video_size(output) == (3416, 1920)
    assert upscaled_size(1920, 1080, scale=4, max_long_side=4096) == (4096, 2304)  # a 1080p source stops at 4K


@pytest.mark.parametrize("model_id", ["fal-ai/video-upscaler", "upscale_v1"])
def test_an_upscale_without_a_video_is_refused_before_sending(fal, runway, model_id):
    adapter = (FalAdapter(api_key="k", base_url=fal.url, timeout=5.0) if model_id.startswith("fal")
               else RunwayAdapter(api_key="key_" + "ab" * 64, base_url=runway.url, timeout=5.0))
    with pytest.raises(BadRequest, match="needs the video to upscale"):
        adapter.submit(upscale_request(model_id, None))


def test_the_emulators_refuse_what_the_vendors_would(fal, runway):
    fal_adapter = FalAdapter(api_key="k", base_url=fal.url, timeout=5.0)
    with pytest.raises(BadRequest, match="Could not use the video"):
        fal_adapter.submit(upscale_request("fal-ai/video-upscaler", "data:video/mp4;base64," + base64.b64encode(b"no video").decode()))
    runway_adapter = RunwayAdapter(api_key="key_" + "ab" * 64, base_url=runway.url, timeout=5.0)
    with pytest.raises(BadRequest, match="videoUri"):
        runway_adapter.submit(upscale_request("upscale_v1", "http://plain-http.example/video.mp4"))
