"""The cut's sound: a local voice over a ducked music bed, at the target loudness, in the MP4."""

import av
import numpy as np
import pyloudnorm
import pytest

from studio.cuts import audio
from studio.cuts.assembly import cut_entry_update
from studio.cuts.models import RenderState
from studio.cuts.rendering import cut_render_request, cut_render_run

pytestmark = pytest.mark.django_db(transaction=True)


def decoded_audio(path) -> np.ndarray:
    """The file's sound as (2, samples) float at 48 kHz."""
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=audio.RATE)
        chunks = [out.to_ndarray() for frame in container.decode(audio=0) for out in resampler.resample(frame)]
    return np.concatenate(chunks, axis=1)


def rms_db(samples: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(samples))) + 1e-12)


def test_the_local_voice_speaks_the_same_line_the_same_way():
    first = audio.local_voice("The lanterns come on one by one.")
    again = audio.local_voice("The lanterns come on one by one.")
    assert audio.speech_seconds(first) > 1 and np.array_equal(first, again)


def test_the_mix_is_at_the_target_loudness_with_speech_above_the_ducked_music(three_shot_cut):
    three_shot_cut.music = "local"
    three_shot_cut.save()
    first = three_shot_cut.entries.order_by("position").first()
    cut_entry_update(entry=first, in_ms=0, out_ms=0, transition="cut", transition_ms=0, line="Night falls.")

    render = cut_render_run(render_id=cut_render_request(cut=three_shot_cut).pk)

    assert render.state == RenderState.READY, render.failure_reason
    sound = decoded_audio(render.video.path)
    loudness = pyloudnorm.Meter(audio.RATE).integrated_loudness(sound.T)
    assert abs(loudness - three_shot_cut.loudness_lufs) <= 1.0
    # The line is spoken in the first shot (0.15 s to ~1 s); after it only the bed plays, back at full level.
    speech = sound[:, int(0.3 * audio.RATE): int(0.8 * audio.RATE)]
    bed_alone = sound[:, int(3.5 * audio.RATE): int(5.5 * audio.RATE)]
    assert rms_db(speech) > rms_db(bed_alone) + 3


def test_ducking_lowers_the_bed_only_while_someone_speaks():
    speech = np.zeros(audio.RATE * 4, dtype=np.float32)
    speech[audio.RATE: 2 * audio.RATE] = 0.5 * np.sin(np.arange(audio.RATE) / 8)
    gain = audio.duck_gain(speech)
    assert gain[int(1.5 * audio.RATE)] == pytest.approx(10 ** (audio.DUCK_DB / 20), rel=0.05)
    assert gain[int(3.5 * audio.RATE)] == pytest.approx(1.0)
    assert gain[int(0.2 * audio.RATE)] == pytest.approx(1.0)
