"""The cut's sound: a local voice over a ducked music bed, at the target loudness, in the MP4."""

from pathlib import Path

import av
import numpy as np
import pyloudnorm
import pytest
from django.core.files.storage import default_storage

from studio.cuts import audio
from studio.cuts.assembly import cut_assemble, cut_entry_update
from studio.cuts.models import RenderState
from studio.cuts.plan import clip_plans, cut_inputs
from studio.cuts.render import clip_starts, timeline_frames
from studio.cuts.rendering import cut_mix, cut_render_request, cut_render_run
from tests.cuts.conftest import approved_take
from tests.cuts.media import clip_write
from tests.factories import shot_for

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


def band_db(samples: np.ndarray, low: float, high: float) -> float:
    """Power of a mono stretch between two frequencies, in dB."""
    power = np.abs(np.fft.rfft(samples)) ** 2
    frequencies = np.fft.rfftfreq(len(samples), 1 / audio.RATE)
    return 10 * np.log10(power[(frequencies >= low) & (frequencies < high)].sum() + 1e-12)


def test_a_takes_own_sound_is_mixed_in_trimmed_like_its_picture_with_the_music_ducked_under_it(project, tmp_path):
    # A native-audio take whose sound (a 1 kHz tone) starts 1 s in; trimmed to that second, the cut opens on it.
    approved_take(shot_for(project, title="Talking"),
                  clip_write(tmp_path / "talking.mp4", seconds=2, tone_hz=1000, tone_from_seconds=1.0))
    approved_take(shot_for(project, title="Silent"), clip_write(tmp_path / "silent.mp4", seconds=2))
    cut = cut_assemble(project=project)
    cut.music = "local"
    cut.save()
    talking = cut.entries.order_by("position").first()
    cut_entry_update(entry=talking, in_ms=1000, out_ms=2000, transition="cut", transition_ms=0, line="")

    inputs = cut_inputs(cut)
    assert [clip["own_audio"] for clip in inputs["clips"]] == [True, False]
    media = {clip["video"]: Path(default_storage.path(clip["video"])) for clip in inputs["clips"]}
    clips = clip_plans(inputs, media)
    mono = cut_mix(inputs, clip_starts(clips, cut.fps), timeline_frames(clips, cut.fps), cut.fps, media=media)[0]

    def stretch(start, end):
        return mono[int(start * audio.RATE): int(end * audio.RATE)]

    tone, music = (900, 1100), (100, 700)
    assert band_db(stretch(0.2, 0.8), *tone) > band_db(stretch(1.4, 2.0), *tone) + 30  # the take's sound, where its shot is
    assert band_db(stretch(0.2, 0.8), *music) < band_db(stretch(1.4, 2.0), *music) - 8  # the bed ducked under it
