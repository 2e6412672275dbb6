"""Replay speed: InstructPart samples per second through the live perception node (lockstep, over
DDS) against ``instructpart eval --checkpoint``'s offline loop, with the same tiny PISA model.

Both score the same real InstructPart dev samples (full-size images, up to 2000x1500) with
the same instruction in teacher-forced mode, and both include writing the masks and the
report; model loading is left out of both (the node loads once, the offline run once).

- replay: a perception node in its own process (CPU, float32) and ``replay_items`` in this
  one, each sample a ``segment_part`` request carrying its image (the replay's path);
- offline (baseline, same run): ``load_segmenter`` here, then ``predict_samples`` and
  ``evaluate_predictions``, the steps of ``instructpart eval --checkpoint``, in a process
  with glibc's default malloc as ``instructpart eval`` has;
- offline with the node's allocator settings (``allocator.keep_freed_memory``, which the
  node applies at start-up and ``instructpart eval`` does not): the same steps, measured
  last (the setting cannot be undone), so the node's own cost is not hidden by it.

Runs alternate (offline, replay, offline, replay...) so machine load hits both alike; the
best of ``--repeats`` counts. Target: the replay at least 0.7x the rate of the faster
offline run (DDS and the node cost under 30%). All must give the same gIoU.

    python bench/replay_speed.py [--out bench/results/replay_speed.json] [--samples 20] [--repeats 2]
"""
from __future__ import annotations

import argparse
import os
import pathlib
import tempfile
import time

from instructpart_ros.evaluation.dataset import load_split
from instructpart_ros.evaluation.evaluate import evaluate_predictions
from instructpart_ros.evaluation.prediction import predict_samples
from instructpart_ros.evaluation.replay import ReplayOptions, replay_items
from instructpart_ros.evaluation.replay_items import instructpart_items
from instructpart_ros.ros.allocator import keep_freed_memory
from instructpart_ros.ros.node_process import NodeProcess, tiny_model_parameters, wait_until
from instructpart_ros.ros.perception_client import PerceptionClient
from instructpart_ros.ros.replay_transport import ServiceTransport
from _common import emit, machine

TARGET_RATIO = 0.7
INSTRUCTION = "human"
MODE = "teacher_forced"


def offline_run(segmenter, samples, out: pathlib.Path) -> tuple[float, float]:
    """(seconds, gIoU) of instructpart eval's predict-then-score steps."""
    started = time.perf_counter()
    predict_samples(segmenter, samples, out / "predictions", INSTRUCTION, mode=MODE, progress=False)
    metrics = evaluate_predictions(samples, out / "predictions", out, {"instruction": INSTRUCTION}, progress=False)
    return time.perf_counter() - started, metrics["overall"]["giou"]


def replay_run(client, items, out: pathlib.Path, model: dict) -> tuple[float, float, dict]:
    """(seconds, gIoU, latency) of the replay over the node."""
    options = ReplayOptions(out=out, run={"source": "instructpart"}, model=model, progress=False)
    started = time.perf_counter()
    metrics = replay_items(items, ServiceTransport(client), options)
    return time.perf_counter() - started, metrics["variants"][INSTRUCTION]["giou"], metrics["latency_ms"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=pathlib.Path, help="also write the JSON here")
    parser.add_argument("--samples", type=int, default=20, help="InstructPart dev samples per run")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each (the best counts)")
    args = parser.parse_args(argv)
    os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    data = pathlib.Path(os.environ.get("INSTRUCTPART_DATA", "../shared/data")) / "InstructPart"
    samples = load_split(data, "test")[:args.samples]
    items = instructpart_items(data, "test", [INSTRUCTION], args.samples)

    from instructpart_ros.model import load_segmenter

    with tempfile.TemporaryDirectory(prefix="replay_speed_") as workdir:
        workdir = pathlib.Path(workdir)
        parameters = dict(tiny_model_parameters(workdir / "model"), model_device="cpu", model_dtype="float32",
                          model_mode=MODE)
        segmenter = load_segmenter(kind="pisa", checkpoint=parameters["model_checkpoint"],
                                   vision_tower=parameters["model_vision_tower"], dinov2=parameters["model_dinov2"],
                                   device="cpu", dtype="float32")
        model = {"kind": "pisa", "checkpoint": parameters["model_checkpoint"], "mode": MODE, "dtype": "float32"}
        offline, matched, replay, giou, latency = [], [], [], {}, {}
        with NodeProcess(parameters) as process, PerceptionClient("bench_replay") as client:
            wait_until(lambda: client.lifecycle_state() == "active", 180, process, "the node to become active")
            replay_run(client, items[:2], workdir / "warmup", model)  # discovery, first allocations
            for repeat in range(args.repeats):
                seconds, giou["offline"] = offline_run(segmenter, samples, workdir / f"offline{repeat}")
                offline.append(seconds)
                seconds, giou["replay"], latency = replay_run(client, items, workdir / f"replay{repeat}", model)
                replay.append(seconds)
            keep_freed_memory()
            for repeat in range(args.repeats):
                seconds, giou["offline_node_allocator"] = offline_run(segmenter, samples, workdir / f"matched{repeat}")
                matched.append(seconds)
    rates = {name: len(samples) / min(times) for name, times in
             (("offline", offline), ("offline_node_allocator", matched), ("replay", replay))}
    ratios = {name: rates["replay"] / rates[name] for name in ("offline", "offline_node_allocator")}
    ratio = min(ratios.values())
    report = {
        "benchmark": "replay_speed",
        "samples": len(samples), "instruction": INSTRUCTION, "mode": MODE, "repeats": args.repeats,
        "seconds": {"offline": [round(s, 2) for s in offline], "offline_node_allocator": [round(s, 2) for s in matched],
                    "replay": [round(s, 2) for s in replay]},
        "samples_per_s": {name: round(rate, 3) for name, rate in rates.items()},
        "ratio_to": {name: round(value, 3) for name, value in ratios.items()},
        "ratio": round(ratio, 3), "target_ratio": TARGET_RATIO, "meets_target": ratio >= TARGET_RATIO,
        "same_giou": len(set(giou.values())) == 1, "giou": giou,
        "replay_latency_ms": latency, "machine": machine(),
    }
    emit(report, args.out)
    return 0 if report["same_giou"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
