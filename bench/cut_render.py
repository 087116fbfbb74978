"""Cut render benchmark (issue #16): a cut of N shots of S seconds at 1080p against merely decoding
and re-encoding the same footage with PyAV, in the same run, with the same encoder settings.

Standalone: `python bench/cut_render.py [--shots 10 --seconds 5 --height 1080]`; also the
`cut` section of bench/run.py. Needs no database: it drives the renderer and the mix directly,
as the worker does once the cut's inputs are checked. Prints figures; asserts nothing.
"""

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.cuts import audio  # noqa: E402
from studio.cuts.render import (  # noqa: E402
    AUDIO_RATE,
    CROSSFADE,
    CUT,
    DIP,
    ClipPlan,
    OutputFormat,
    clip_starts,
    cut_render,
    timeline_frames,
)

GOAL = 1.3
FPS = 24


@dataclass(frozen=True)
class CutFigures:
    shots: int
    seconds: float
    size: tuple[int, int]
    baseline_seconds: float
    cut_seconds: float
    frames: int

    @property
    def ratio(self) -> float:
        return self.cut_seconds / self.baseline_seconds if self.baseline_seconds else 0.0


def footage_write(folder: Path, *, shots: int, seconds: float, size: tuple[int, int]) -> list[Path]:
    """Moving, textured clips (so the decoder and encoder do real work), one per shot."""
    width, height = size
    rng = np.random.default_rng(16)
    paths = []
    for shot in range(shots):
        texture = rng.integers(0, 255, size=(height * 3 // 2, width + 64), dtype=np.uint8)
        texture[height:] = texture[height:] // 8 + 112  # calm chroma
        path = folder / f"shot-{shot:02d}.mp4"
        with av.open(str(path), mode="w") as container:
            stream = container.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "crf": "23"})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for index in range(round(seconds * FPS)):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(texture[:, index % 64: index % 64 + width]),
                                                   format="yuv420p")
                frame.pts, frame.time_base = index, Fraction(1, FPS)
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
        paths.append(path)
    return paths


def decode_reencode(paths: list[Path], target: Path, size: tuple[int, int]) -> None:
    """The floor: every frame decoded and encoded once, with the cut's encoder settings, no audio."""
    with av.open(str(target), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=FPS, options={"crf": "20", "preset": "veryfast", "threads": "2"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        index = 0
        for path in paths:
            with av.open(str(path)) as source:
                source.streams.video[0].thread_type = "AUTO"
                for frame in source.decode(video=0):
                    frame.pts, frame.time_base = index, Fraction(1, FPS)
                    container.mux(stream.encode(frame))
                    index += 1
        container.mux(stream.encode())


def cut_benchmark(*, shots: int = 10, seconds: float = 5.0, height: int = 1080) -> CutFigures:
    size = (height * 16 // 9 // 2 * 2, height)
    with tempfile.TemporaryDirectory(prefix="cut-bench-") as workdir:
        folder = Path(workdir)
        paths = footage_write(folder, shots=shots, seconds=seconds, size=size)
        started = time.perf_counter()
        decode_reencode(paths, folder / "baseline.mp4", size)
        baseline = time.perf_counter() - started

        transitions = [CUT, CROSSFADE, CUT, DIP]
        clips = [ClipPlan(path=path, in_seconds=0.0, out_seconds=seconds, transition=transitions[i % 4],
                          transition_seconds=0.5) for i, path in enumerate(paths)]
        fmt = OutputFormat(width=size[0], height=size[1], fps=FPS)
        started = time.perf_counter()
        frames = timeline_frames(clips, FPS)
        starts = clip_starts(clips, FPS)
        lines = [audio.SpeechPlacement(start_sample=start * AUDIO_RATE // FPS, samples=audio.local_voice(f"Shot number {n}."))
                 for n, start in enumerate(starts[::3], start=1)]
        total = frames * AUDIO_RATE // FPS
        mix = audio.mix(total_samples=total, speech=lines, music=audio.local_music_bed(total / AUDIO_RATE, seed=1),
                        music_db=-18, target_lufs=-14)
        cut_render(clips, fmt, folder / "cut.mp4", audio=mix)
        cut = time.perf_counter() - started
    return CutFigures(shots=shots, seconds=seconds, size=size, baseline_seconds=baseline, cut_seconds=cut, frames=frames)


def cut_print(figures: CutFigures) -> None:
    print(f"Cut render: {figures.shots} shots × {figures.seconds:g} s at {figures.size[0]}×{figures.size[1]} "
          f"{FPS} fps ({figures.frames} output frames; cuts, crossfades and dips; voice-over and music mixed to -14 LUFS)")
    print(f"  decode + re-encode  {figures.baseline_seconds:8.2f} s   (PyAV, libx264 veryfast, the same footage)")
    print(f"  cut render          {figures.cut_seconds:8.2f} s")
    verdict = "within" if figures.ratio <= GOAL else "over"
    print(f"  cut ÷ baseline      {figures.ratio:8.2f}x  ({verdict} the {GOAL}x goal)\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--height", type=int, default=1080)
    arguments = parser.parse_args()
    cut_print(cut_benchmark(shots=arguments.shots, seconds=arguments.seconds, height=arguments.height))


if __name__ == "__main__":
    main()
