"""Take evaluation benchmark: evaluation time per second of video, next to the time to decode it.

Standalone (no Django, no Redis):
    .venv/bin/python bench/evaluation.py [--seconds 5] [--cores 1] [--clip-model-dir DIR]
Generates 720p and 1080p H.264 clips with PyAV in a temporary directory, then times for each, best
of --repeats runs:
  decode      every frame decoded, nothing else (the floor any evaluation pays)
  technical   evaluate_video_technical (what the pipeline ran before issue 6)
  full        evaluate_take_video (technical + every frame metric + safety; CLIP metrics only with
              --clip-model-dir, a local transformers CLIPModel directory)
Prints figures; asserts nothing. --cores pins the process to that many CPU cores (Linux).
"""

import argparse
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import numpy as np  # noqa: E402

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
FPS = 24


def clip_generate(path: Path, width: int, height: int, seconds: float) -> Path:
    """Colour noise panning 6 px per frame with a bright square crossing it: texture for the encoder and the flow."""
    rng = np.random.default_rng(7)
    frames = round(seconds * FPS)
    coarse = rng.integers(0, 256, (height // 16 + 1, (width + frames * 6) // 16 + 1, 3), dtype=np.uint8)
    wide = np.repeat(np.repeat(coarse, 16, axis=0), 16, axis=1)[:height]
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"crf": "23", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            picture = np.ascontiguousarray(wide[:, index * 6 : index * 6 + width])
            left = index * (width // frames)
            picture[height // 3 : height // 3 + height // 6, left : left + height // 6] = 250
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def decode_only(path: Path) -> None:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass


def best_time(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cores", type=int, default=0, help="pin to this many cores (0: all)")
    parser.add_argument("--clip-model-dir", default=None, help="local CLIPModel directory for the CLIP metrics")
    options = parser.parse_args()
    if options.cores:
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: options.cores]))
        import cv2

        cv2.setNumThreads(options.cores)

    from jobs.evaluation import evaluate_take_video, evaluate_video_technical

    cores = len(os.sched_getaffinity(0))
    print(f"Take evaluation, {options.seconds:g} s clips at {FPS} fps, {cores} core(s), best of {options.repeats}")
    print(f"{'clip':<7}{'decode':>14}{'technical':>14}{'full':>14}{'full/decode':>13}   aggregate")
    with tempfile.TemporaryDirectory(prefix="shotcraft-bench-eval-") as folder:
        for label, (width, height) in SIZES.items():
            clip = clip_generate(Path(folder) / f"{label}.mp4", width, height, options.seconds)
            expected = {"expected_duration_seconds": options.seconds, "expected_width": width,
                        "expected_height": height}  # fmt: skip
            quality = {**expected, "prompt": "a bright square crossing a colourful pattern",
                       "clip_model_dir": options.clip_model_dir}  # fmt: skip
            evaluate_take_video(clip, **quality)  # warm-up: loads OpenCV, the NudeNet session and CLIP once
            decode = best_time(lambda: decode_only(clip), options.repeats)
            technical = best_time(lambda: evaluate_video_technical(clip, **expected), options.repeats)
            full = best_time(lambda: evaluate_take_video(clip, **quality), options.repeats)
            aggregate = evaluate_take_video(clip, **quality).aggregate
            per_second = [f"{value / options.seconds * 1000:9.0f} ms/s" for value in (decode, technical, full)]
            print(f"{label:<7}{''.join(f'{text:>14}' for text in per_second)}{full / decode:12.1f}x   {aggregate}")
    clip_note = "included" if options.clip_model_dir else "not included (no --clip-model-dir)"
    print(f"ms/s = milliseconds of wall time per second of video. CLIP metrics {clip_note}.")


if __name__ == "__main__":
    main()
