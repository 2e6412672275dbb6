"""Scoring benchmark: 600 full-size InstructPart masks, instructpart_ros vs a plain loop.

Builds a 600-sample test split from the 50 real samples (each used 12 times through
links, so masks are full size, up to about 2000x1500) with a prediction per sample
(the ground truth eroded or shifted, written by ``write_mask`` as ``instructpart eval
--checkpoint`` writes it); both methods read the very same files. Each method runs in
a fresh child process, so that its peak memory is its own:

- ``instructpart_ros``: ``score_predictions`` (OpenCV decode and counts in a thread
  pool over all cores) and ``summarize``;
- ``baseline``: one process, a loop that decodes both PNGs with PIL and computes the
  IoU with NumPy (``logical_and(...).sum() / logical_or(...).sum()``).

Both must give the same gIoU and cIoU. Targets: faster than the baseline (wall time),
peak memory (VmHWM of the child, interpreter and imports included) under 1 GB.
``cpu_seconds`` (all threads) shows the work itself: decoding the ground-truth PNGs
(~11 ms each, zlib-bound in every decoder) dominates both, so the wall-time gain comes
mostly from the cores that are free; the load average is recorded with the results.
Methods alternate and each keeps its best of ``--repeats`` runs. Prints JSON; ``--out``
also writes it.

    INSTRUCTPART_DATA=../shared/data python bench/eval_speed.py [--out bench/results/eval_speed.json]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

from instructpart_ros.evaluation.dataset import sample_id
from instructpart_ros.evaluation.prediction import write_mask
from instructpart_ros.evaluation.scoring import default_workers
from _common import emit, machine

NUM_MASKS = 600
PEAK_RSS_TARGET_MB = 1024


def build_split(instructpart: pathlib.Path, root: pathlib.Path) -> pathlib.Path:
    """A ``test`` split of NUM_MASKS samples linked to the real ones; return predictions dir."""
    entries = json.loads((instructpart / "test" / "data_test.json").read_text())
    real = [(entry["image_path"], part) for entry in entries for part in entry["part_list"]]
    test, predictions = root / "test", root / "predictions"
    for folder in (test / "images", test / "masks", predictions):
        folder.mkdir(parents=True)
    kernel = np.ones((9, 9), np.uint8)
    copies = []
    for index in range(NUM_MASKS):
        image_path, part = real[index % len(real)]
        real_id = sample_id(image_path, part["object"], part["part"])
        copy_path = f"{pathlib.PurePath(image_path).stem}_copy{index:03d}.jpg"
        copy_id = sample_id(copy_path, part["object"], part["part"])
        copies.append({"image_path": copy_path, "part_list": [part]})
        (test / "images" / f"{copy_id}.jpg").symlink_to(
            instructpart / "test" / "images" / f"{real_id}.jpg")
        truth_path = instructpart / "test" / "masks" / f"{real_id}.png"
        (test / "masks" / f"{copy_id}.png").symlink_to(truth_path)
        truth = cv2.imread(str(truth_path), cv2.IMREAD_GRAYSCALE) * 255
        prediction = cv2.erode(truth, kernel) if index % 2 else np.roll(truth, 15, axis=1)
        write_mask(predictions / f"{copy_id}.png", prediction > 0)
    (test / "data_test.json").write_text(json.dumps(copies))
    return predictions


def score_with_instructpart(root: pathlib.Path, predictions: pathlib.Path) -> dict:
    from instructpart_ros.evaluation.dataset import load_split
    from instructpart_ros.evaluation.metrics import summarize
    from instructpart_ros.evaluation.scoring import score_predictions

    samples = load_split(root, "test", check_files=False)
    start, cpu_start = time.perf_counter(), time.process_time()
    scored = score_predictions(samples, predictions, progress=False)
    summary = summarize(scored.counts)
    return {"seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu_start, "giou": summary["giou"],
            "ciou": summary["ciou"], "n": summary["n"]}


def score_with_plain_loop(root: pathlib.Path, predictions: pathlib.Path) -> dict:
    from PIL import Image

    masks = sorted((root / "test" / "masks").glob("*.png"))
    start, cpu_start = time.perf_counter(), time.process_time()
    ious, intersections, unions = [], 0, 0
    for truth_path in masks:
        truth = np.array(Image.open(truth_path)) > 0
        prediction = np.array(Image.open(predictions / truth_path.name)) > 0
        intersection = np.logical_and(prediction, truth).sum()
        union = np.logical_or(prediction, truth).sum()
        ious.append(intersection / union if union else 1.0)
        intersections += intersection
        unions += union
    return {"seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu_start, "giou": 100.0 * float(np.mean(ious)),
            "ciou": 100.0 * float(intersections / unions), "n": len(masks)}


METHODS = {"instructpart_ros": score_with_instructpart, "baseline": score_with_plain_loop}


def peak_rss_mb() -> float:
    """This process's peak resident memory. (``getrusage`` would also count the parent's
    peak: Linux carries ``ru_maxrss`` across fork and exec; ``VmHWM`` starts afresh.)"""
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(method: str, root: pathlib.Path, predictions: pathlib.Path) -> None:
    result = METHODS[method](root, predictions)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def run_child(method: str, root: pathlib.Path, predictions: pathlib.Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", method, "--root", str(root),
                           "--predictions", str(predictions)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def run(instructpart: pathlib.Path, repeats: int) -> dict:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="eval_speed_") as folder:
        root = pathlib.Path(folder)
        start = time.perf_counter()
        predictions = build_split(instructpart, root)
        for path in [*(root / "test" / "masks").iterdir(), *predictions.iterdir()]:
            path.read_bytes()   # warm the page cache: neither method pays for the first read
        setup_seconds = time.perf_counter() - start
        runs = {method: [] for method in METHODS}
        for _ in range(repeats):   # alternate, so neither always meets a warmer cache
            for method in METHODS:
                runs[method].append(run_child(method, root, predictions))
                print(f"{method}: {runs[method][-1]['seconds']:.2f} s", file=sys.stderr,
                      flush=True)
    results = {}
    for method, method_runs in runs.items():
        best = min(method_runs, key=lambda r: r["seconds"])
        results[method] = {
            "seconds": round(best["seconds"], 3),
            "cpu_seconds": round(best["cpu_seconds"], 3),
            "masks_per_second": round(best["n"] / best["seconds"], 1),
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in method_runs), 1),
            "giou": best["giou"], "ciou": best["ciou"], "n": best["n"],
            "all_seconds": [round(r["seconds"], 3) for r in method_runs],
        }
    ours, baseline = results["instructpart_ros"], results["baseline"]
    same = (abs(ours["giou"] - baseline["giou"]) < 1e-9
            and abs(ours["ciou"] - baseline["ciou"]) < 1e-9 and ours["n"] == baseline["n"])
    return {
        "benchmark": "eval_speed",
        "masks": NUM_MASKS,
        "setup_seconds": round(setup_seconds, 2),
        "targets": {
            "same_metrics_as_baseline": same,
            "speedup_vs_baseline": round(baseline["seconds"] / ours["seconds"], 2),
            "faster_than_baseline": ours["seconds"] < baseline["seconds"],
            "peak_rss_mb": ours["peak_rss_mb"],
            "peak_rss_under_1gb": ours["peak_rss_mb"] < PEAK_RSS_TARGET_MB,
        },
        "machine": machine(usable_cpus=default_workers(), load_average_before=load_before,
                           opencv=cv2.__version__),
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = pathlib.Path(os.environ.get("INSTRUCTPART_DATA", "../shared/data"))
    parser.add_argument("--data", type=pathlib.Path, default=default_data / "InstructPart",
                        help="the InstructPart folder with the 50 real test samples")
    parser.add_argument("--out", type=pathlib.Path, help="also write the JSON here")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each method (best kept)")
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=pathlib.Path, help=argparse.SUPPRESS)
    parser.add_argument("--predictions", type=pathlib.Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.root, args.predictions)
        return
    if not (args.data / "test" / "data_test.json").is_file():
        parser.error(f"{args.data} has no test/data_test.json: pass --data or set INSTRUCTPART_DATA")
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    emit(run(args.data, args.repeats), args.out)


if __name__ == "__main__":
    main()
