"""Grasp filter benchmark on the real 1280x800 knife frame: 1,000 and 10,000 candidates against a
10k-point part (the knife handle) and a 300k-point part (a large block in the middle of the frame).

Candidates are what a planner proposes around a part: anchors on the part's points, approach
within 30 degrees of the viewing ray, any closing direction, widths 2-9 cm (some too wide),
random scores, so most of them reach the expensive gate (G2). Each case times:

- ``filter_ms``: ``filter_grasps`` on the prepared ``PartScene``: the gates, scores, NMS, top-k;
- ``scene_ms``: preparing that scene once per frame, ``part_scene_from_depth``: back-project and
  sample the scene near the part, build the part's KD-tree and the scene's grid;
- the baseline, a naive per-candidate numpy loop (G1: distances to every part point; G2:
  every scene point against the box), in the same run on the first ``--naive`` candidates,
  with the same decisions checked, and extrapolated to all candidates.

The process first sets glibc's allocator as ``grasp_filter_node`` does
(``allocator.keep_freed_memory``: freed large blocks are kept for the next call instead of
being page-faulted in again); the same cases then run in a child process with glibc's
default thresholds, reported side by side as ``filter_ms_default_malloc``.

Target: ``filter_ms`` under 20 ms for 1,000 candidates against the 10k-point part.

    INSTRUCTPART_DATA=../shared/data python bench/grasp_filter.py [--out bench/results/grasp_filter.json]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from instructpart_ros.geometry import extract_part_points
from instructpart_ros.datasets.rgbd_images import read_rgbd_dir
from instructpart_ros.grasping import FilterConfig, PartScene, filter_grasps, grasps_from_poses, part_scene_from_depth
from instructpart_ros.grasping.grasp_filter import G1_ANCHOR, G2_PART_SHARE, G3_WIDTH, G4_AXIS, _axis_deviation
from instructpart_ros.grasping.nms import nms_order
from instructpart_ros.grasping.region_count import count_in_boxes_naive
from instructpart_ros.ros.allocator import keep_freed_memory
from _common import emit, machine, median_ms

TARGET_MS = 20.0
TARGET_CASE = (1000, "handle")
SEED = 0


def large_part_mask(depth: np.ndarray, points_wanted: int = 300_000) -> np.ndarray:
    """A centred block of the frame holding about ``points_wanted`` valid depth pixels."""
    height, width = depth.shape
    valid = depth > 0
    for fraction in np.linspace(0.3, 0.95, 66):
        h, w = int(height * fraction), int(width * fraction)
        mask = np.zeros_like(valid)
        mask[(height - h) // 2:(height + h) // 2, (width - w) // 2:(width + w) // 2] = True
        if np.count_nonzero(mask & valid) >= points_wanted:
            return mask
    return valid


def planner_candidates(part_points: np.ndarray, count: int, rng: np.random.Generator):
    """Graspnet-convention poses around a part: (rotations, translations, widths, scores)."""
    anchors = part_points[rng.integers(0, len(part_points), count)].astype(np.float64)
    rays = anchors / np.linalg.norm(anchors, axis=1, keepdims=True)
    tilt = Rotation.from_rotvec(rng.normal(size=(count, 3)) * np.radians(15.0))
    approach = tilt.apply(rays)
    closing = np.cross(approach, rng.normal(size=(count, 3)))
    closing /= np.linalg.norm(closing, axis=1, keepdims=True)
    rotations = np.stack([approach, closing, np.cross(approach, closing)], axis=2)
    return rotations, anchors, rng.uniform(0.02, 0.09, count), rng.uniform(0.1, 1.0, count)


def naive_filter(grasps, part: PartScene, config: FilterConfig):
    """The gates as a per-candidate loop over every part and scene point; the same scores, NMS and top-k."""
    count = len(grasps)
    rejected = [None] * count
    scores = np.full(count, np.nan)
    deviation = _axis_deviation(grasps, part, config)
    half = config.region_half_extents(grasps.widths)
    rotations = grasps.rotations
    for index in range(count):
        distance = np.min(np.linalg.norm(part.part_points - grasps.anchor[index], axis=1))
        if not distance <= config.max_anchor_distance:
            rejected[index] = G1_ANCHOR
        elif grasps.widths[index] > config.max_width:
            rejected[index] = G3_WIDTH
        elif deviation[index] > config.max_axis_deviation:
            rejected[index] = G4_AXIS
        else:
            total, inside = count_in_boxes_naive(part.scene_points, part.scene_is_part, grasps.center[index:index + 1],
                                                 rotations[index:index + 1], half[index:index + 1])
            share = inside[0] / total[0] if total[0] else 0.0
            scores[index] = grasps.scores[index] * share
            if share < config.min_part_share or inside[0] < config.min_part_points:
                rejected[index] = G2_PART_SHARE
    passed = np.array([index for index in range(count) if rejected[index] is None], dtype=np.int64)
    kept, suppressed, beyond = nms_order(grasps.center[passed], rotations[passed], scores[passed],
                                         config.nms_translation, np.radians(config.nms_rotation), config.top_k)
    for indices, gate in ((suppressed, "nms"), (beyond, "top_k")):
        for index in passed[indices]:
            rejected[index] = gate
    return passed[kept], rejected


def median_cpu_ms(function, runs: int) -> float:
    """Median CPU time of ``function()`` in this thread (ms): less disturbed than wall time by other
    processes on a shared machine."""
    function()
    times = []
    for _ in range(runs):
        started = time.thread_time()
        function()
        times.append(time.thread_time() - started)
    return 1e3 * float(np.median(times))


def run_case(name, part: PartScene, scene_ms: float, count: int, runs: int, naive_count: int, config: FilterConfig,
             rng) -> dict:
    rotations, translations, widths, scores = planner_candidates(part.part_points, count, rng)
    grasps = grasps_from_poses(rotations, translations, widths, scores, "graspnet")
    result = filter_grasps(grasps, part, config)
    filter_ms = median_ms(lambda: filter_grasps(grasps, part, config), runs)
    filter_cpu_ms = median_cpu_ms(lambda: filter_grasps(grasps, part, config), runs)

    subset = grasps.take(np.arange(min(naive_count, count)))
    started = time.perf_counter()
    naive_kept, naive_rejected = naive_filter(subset, part, config)
    naive_ms = (time.perf_counter() - started) * 1e3
    fast = filter_grasps(subset, part, config)
    same = fast.rejected_by == naive_rejected and fast.kept.tolist() == naive_kept.tolist()
    if not same:
        raise SystemExit(f"{name}, {count} candidates: the naive loop and filter_grasps disagree")
    naive_all_ms = naive_ms * count / len(subset)
    reached = sum(gate is None or gate in (G2_PART_SHARE, "nms", "top_k") for gate in result.rejected_by)
    return {
        "part": name, "part_points": len(part.part_points), "scene_points": len(part.scene_points),
        "candidates": count, "reached_G2": reached, "kept": len(result.kept),
        "filter_ms": round(filter_ms, 2), "filter_cpu_ms": round(filter_cpu_ms, 2),
        "scene_plus_filter_ms": round(scene_ms + filter_ms, 2),
        "naive_loop_ms": round(naive_all_ms, 1), "naive_loop_measured_on": len(subset),
        "naive_same_decisions": same, "speedup": round(naive_all_ms / filter_ms, 1),
    }


def default_allocator_cases(args) -> list:
    """The same cases timed in a child process with glibc's default allocator thresholds."""
    with tempfile.TemporaryDirectory() as folder:
        out = pathlib.Path(folder) / "default.json"
        subprocess.run([sys.executable, __file__, "--allocator", "default", "--data", str(args.data),
                        "--runs", str(args.runs), "--naive", str(args.naive), "--out", str(out)],
                       check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())["cases"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=pathlib.Path, default=pathlib.Path(os.environ.get("INSTRUCTPART_DATA", "")))
    parser.add_argument("--out", type=pathlib.Path)
    parser.add_argument("--runs", type=int, default=15, help="timed runs per case (median; fewer for 10k candidates)")
    parser.add_argument("--naive", type=int, default=200, help="candidates the naive loop is timed on")
    parser.add_argument("--allocator", choices=("node", "default"), default="node",
                        help="node: glibc's thresholds as grasp_filter_node sets them, then the same cases with "
                             "the default ones in a child process; default: only glibc's default thresholds")
    args = parser.parse_args()
    if args.allocator == "node":
        keep_freed_memory()
    folder = args.data / "shapegrasp-knife"
    if not (folder / "color.png").is_file():
        print(f"{folder} not found: pass --data or set INSTRUCTPART_DATA", file=sys.stderr)
        return 2
    frame = read_rgbd_dir(folder)
    depth, intrinsics = frame.depth, frame.calibration.intrinsics()
    config = FilterConfig()
    handle = cv2.imread(str(folder / "mask_knife_handle.png"), cv2.IMREAD_UNCHANGED) > 0
    masks = {"handle": handle, "large_block": large_part_mask(depth)}
    rng = np.random.default_rng(SEED)
    cases, scenes = [], {}
    for name, mask in masks.items():
        points = extract_part_points(depth, intrinsics, mask).points
        scene_ms = median_ms(lambda: part_scene_from_depth(depth, intrinsics, mask, config, part_points=points),
                             max(5, args.runs // 3))
        part = part_scene_from_depth(depth, intrinsics, mask, config, part_points=points)
        scenes[name] = {"part_points": len(points), "scene_points": len(part.scene_points),
                        "scene_ms": round(scene_ms, 2)}
        for count in (1000, 10000):
            runs = args.runs if count == 1000 else max(5, args.runs // 3)
            cases.append(run_case(name, part, scene_ms, count, runs, args.naive, config, rng))
    if args.allocator == "node":
        for case, default in zip(cases, default_allocator_cases(args)):
            case["filter_ms_default_malloc"] = default["filter_ms"]
            case["filter_cpu_ms_default_malloc"] = default["filter_cpu_ms"]
    target = next(case for case in cases if (case["candidates"], case["part"]) == TARGET_CASE)
    emit({
        "benchmark": "grasp_filter",
        "frame": "shapegrasp-knife 1280x800",
        "settings": {"scene_voxel_size": config.scene_voxel_size, "grid_cell_size": config.grid_cell_size(),
                     "allocator": args.allocator},
        "scenes": scenes,
        "cases": cases,
        "target": {"case": "1000 candidates, handle", "filter_ms": target["filter_ms"],
                   "filter_cpu_ms": target["filter_cpu_ms"], "target_ms": TARGET_MS,
                   "met": target["filter_ms"] < TARGET_MS},
        "machine": machine(),
    }, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
