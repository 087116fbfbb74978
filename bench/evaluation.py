"""Take evaluation benchmark: evaluation time per second of video, next to the time to decode it.

Standalone (no Django, no Redis):
    .venv/bin/python bench/evaluation.py [--seconds 5] [--cores 1] [--clip-model-dir DIR]
Generates 720p and 1080p H.264 clips with PyAV in a temporary directory, then times for each, best
of --repeats runs:
  decode      every frame decoded, nothing else (the floor any evaluation pays)
  technical   evaluate_video_technical (what the pipeline ran before issue 6)
  full        evaluate_take_video (technical + every frame metric + safety; CLIP metrics only with
              --clip-model-dir, a local transformers CLIPModel directory)
Then, issue 13's one-decode figures for a 5 s 720p and a 10 s 1080p clip, each measured in a fresh
process (models loaded first, so "idle" is a warm evaluation worker):
  decode      one full decode
  take        evaluation + animated preview + poster + thumbnail from that one decode
  before      what a take cost before: video_stills + video_preview + evaluation (three decodes)
  ratio       take / decode (goal <= 1.5x plus <= 100 ms fixed) and the fixed part, take - 1.5 x decode
  peak        the take's peak resident memory above the warm idle worker (goal <= 300 MB)
  CPU         decode and take again in CPU seconds (process_time: every thread of the process)
Prints figures; asserts nothing. --cores pins the process to that many CPU cores (Linux).
"""

import argparse
import json
import os
import subprocess
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


ONE_DECODE_CLIPS = {"5 s 720p": (1280, 720, 5.0), "10 s 1080p": (1920, 1080, 10.0)}


def resident_peak_reset() -> None:
    """Linux: forget the peak resident size so far (VmHWM), so the next peak is the work's own."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def resident_kilobytes(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def one_decode_child(clip: Path, width: int, height: int, seconds: float, what: str, repeats: int) -> dict:
    """Runs in a fresh process: warm up, then time `what` and its peak memory above the warm idle worker."""
    import gc

    from jobs.evaluation import evaluate_take_video
    from jobs.media import video_preview, video_stills

    expected = {"expected_duration_seconds": seconds, "expected_width": width, "expected_height": height}
    work = Path(tempfile.mkdtemp(prefix="shotcraft-bench-take-"))
    runs = {
        "decode": lambda: decode_only(clip),
        "take": lambda: evaluate_take_video(clip, **expected, media_dir=work / "media"),
        "before": lambda: (video_stills(clip, work / "stills"), video_preview(clip, work / "preview"),
                           evaluate_take_video(clip, **expected)),
    }
    runs[what]()  # warm-up: imports, OpenCV, the NudeNet session
    gc.collect()
    idle = resident_kilobytes("VmRSS")
    resident_peak_reset()
    elapsed = best_time(runs[what], repeats)
    peak_mb = (resident_kilobytes("VmHWM") - idle) / 1024
    return {"seconds": elapsed, "cpu_seconds": best_time(runs[what], repeats, clock=time.process_time),
            "peak_mb": peak_mb}  # fmt: skip


def one_decode_report(folder: Path, repeats: int) -> None:
    print()
    print("One decode per take (issue 13): each figure from a fresh, warmed-up process")
    print(f"{'clip':<12}{'decode':>10}{'take':>10}{'before':>10}{'take/decode':>13}{'fixed':>10}{'peak above idle':>17}"
          f"{'CPU: decode':>13}{'take':>8}{'take/decode':>13}{'fixed':>9}")  # fmt: skip
    for label, (width, height, seconds) in ONE_DECODE_CLIPS.items():
        clip = clip_generate(folder / f"one-decode-{width}x{height}.mp4", width, height, seconds)
        figures = {}
        for what in ("decode", "take", "before"):
            output = subprocess.run(
                [sys.executable, __file__, "--child", json.dumps([str(clip), width, height, seconds, what, repeats])],
                check=True, capture_output=True, text=True,
            ).stdout
            figures[what] = json.loads(output.strip().splitlines()[-1])
        decode, take = figures["decode"]["seconds"], figures["take"]["seconds"]
        fixed = (take - 1.5 * decode) * 1000
        cpu_decode, cpu_take = figures["decode"]["cpu_seconds"], figures["take"]["cpu_seconds"]
        print(f"{label:<12}{decode:9.2f}s{take:9.2f}s{figures['before']['seconds']:9.2f}s{take / decode:12.2f}x"
              f"{fixed:8.0f}ms{figures['take']['peak_mb']:14.0f} MB"
              f"{cpu_decode:12.2f}s{cpu_take:7.2f}s{cpu_take / cpu_decode:12.2f}x{(cpu_take - 1.5 * cpu_decode) * 1000:7.0f}ms")
    print("goal: take <= 1.5 x decode + 100 ms (fixed <= 100 ms); peak <= 300 MB above the idle worker.")
    print("CPU: the same work in CPU seconds of the process (all its threads), steadier than wall time on a")
    print("shared machine, and what bounds an evaluation worker's throughput (cores / CPU seconds per take).")


def best_time(run, repeats: int, clock=time.perf_counter) -> float:
    times = []
    for _ in range(repeats):
        started = clock()
        run()
        times.append(clock() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cores", type=int, default=0, help="pin to this many cores (0: all)")
    parser.add_argument("--clip-model-dir", default=None, help="local CLIPModel directory for the CLIP metrics")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--one-decode-only", action="store_true", help="print only the one-decode figures")
    options = parser.parse_args()
    if options.child:
        print(json.dumps(one_decode_child(*_child_arguments(options.child))))
        return
    if options.cores:
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: options.cores]))
        import cv2

        cv2.setNumThreads(options.cores)

    from jobs.evaluation import evaluate_take_video, evaluate_video_technical

    if options.one_decode_only:
        with tempfile.TemporaryDirectory(prefix="shotcraft-bench-eval-") as folder:
            one_decode_report(Path(folder), options.repeats)
        return
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
        one_decode_report(Path(folder), options.repeats)


def _child_arguments(text: str) -> tuple:
    clip, width, height, seconds, what, repeats = json.loads(text)
    return Path(clip), width, height, seconds, what, repeats


if __name__ == "__main__":
    main()
