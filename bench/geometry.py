"""Geometry benchmark on the real 1280x800 knife frame: back-projection next to open3d,
and the whole part pipeline (mask -> filtered points -> PartGeometry) for the knife
handle and for a large mask (the middle of the frame, as large as the tiny test model's
masks: the worst case of the perception node).

Every case is timed in the same run as its baseline (median of ``--runs`` runs, at
least 15, milliseconds) and printed as JSON; ``--out`` also writes it to a file.
Baselines: open3d, and for the large part the straightforward formulation (back-project
every masked pixel, then filter the ``(N, 3)`` points). Targets: full-frame
back-projection no slower than open3d's ``create_from_depth_image`` (aim: half its
time), the handle pipeline under 5 ms.

The strict open3d baselines get their input already wrapped (``o3d.geometry.Image``,
a pre-masked depth image, a ``PointCloud``); the "to numpy" variants include the
wrapping and the copy back to numpy that a numpy caller pays.

    INSTRUCTPART_DATA=../shared/data python bench/geometry.py [--out bench/results/geometry.json]
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys

import cv2
import numpy as np
import open3d as o3d

from instructpart_ros.geometry import (
    Intrinsics,
    PartFilter,
    backproject,
    depth_inliers,
    erode_mask,
    extract_part_points,
    in_depth_range,
    part_geometry,
    ray_grid,
    voxel_means,
)
from _common import emit, machine, median_ms

PIPELINE_TARGET_MS = 5.0
POSE_VOXEL_SIZE = 0.005
MIN_RUNS = 15


def load_knife(folder: pathlib.Path):
    depth = cv2.imread(str(folder / "depth_mm.png"), cv2.IMREAD_UNCHANGED)
    handle = cv2.imread(str(folder / "mask_knife_handle.png"), cv2.IMREAD_UNCHANGED)
    if depth is None or handle is None:
        raise SystemExit(f"{folder} lacks depth_mm.png or mask_knife_handle.png: pass --data or set INSTRUCTPART_DATA")
    return depth, handle > 0


def open3d_camera(shape, intrinsics: Intrinsics) -> o3d.camera.PinholeCameraIntrinsic:
    height, width = shape
    return o3d.camera.PinholeCameraIntrinsic(
        width, height, intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy)


def open3d_points(image: o3d.geometry.Image, camera) -> o3d.geometry.PointCloud:
    return o3d.geometry.PointCloud.create_from_depth_image(image, camera, depth_scale=1000.0, depth_trunc=1e6)


def open3d_points_to_numpy(depth_mm: np.ndarray, camera) -> np.ndarray:
    """What a numpy caller pays: wrap the array, back-project, copy the points back."""
    return np.asarray(open3d_points(o3d.geometry.Image(depth_mm), camera).points, dtype=np.float32)


def large_mask(shape) -> np.ndarray:
    """The middle 60 % of the frame in each direction (36 % of its pixels)."""
    height, width = shape
    mask = np.zeros(shape, dtype=bool)
    mask[height // 5:height - height // 5, width // 5:width - width // 5] = True
    return mask


def points_then_filters(depth: np.ndarray, intrinsics: Intrinsics, mask: np.ndarray, part_filter=PartFilter()):
    """Baseline: back-project the eroded mask, then filter the (N, 3) points stage by stage."""
    points, pixels = backproject(depth, intrinsics, erode_mask(mask, part_filter.erode_px), return_pixels=True)
    keep = in_depth_range(points[:, 2], part_filter.min_depth, part_filter.max_depth)
    points, pixels = points[keep], pixels[keep]
    keep = depth_inliers(points[:, 2], part_filter.outlier_sigmas, part_filter.outlier_min_band)
    return points[keep], pixels[keep]


def first_call(depth: np.ndarray, intrinsics: Intrinsics):
    ray_grid.cache_clear()
    return backproject(depth, intrinsics)


def run(data: pathlib.Path, runs: int) -> dict:
    depth, handle = load_knife(data)
    intrinsics = Intrinsics(650.0, 650.0, 640.0, 400.0)
    depth_m = depth.astype(np.float32) / 1000.0
    depth_m[depth == 0] = np.nan
    camera = open3d_camera(depth.shape, intrinsics)
    full_image = o3d.geometry.Image(depth)
    masked_depth = np.where(handle, depth, 0).astype(np.uint16)
    masked_image = o3d.geometry.Image(masked_depth)
    handle_points = extract_part_points(depth, intrinsics, handle).points
    large = large_mask(depth.shape)
    large_points = extract_part_points(depth, intrinsics, large).points
    handle_cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(handle_points.astype(np.float64)))

    def open3d_voxel_to_numpy():
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(handle_points.astype(np.float64)))
        return np.asarray(cloud.voxel_down_sample(POSE_VOXEL_SIZE).points)

    # name -> (ours, {baseline description: baseline})
    cases = {
        "backproject full frame 16UC1": (lambda: backproject(depth, intrinsics), {
            "open3d create_from_depth_image": lambda: open3d_points(full_image, camera),
            "open3d create_from_depth_image, to numpy": lambda: open3d_points_to_numpy(depth, camera)}),
        "backproject full frame 16UC1, return_pixels": (
            lambda: backproject(depth, intrinsics, return_pixels=True), {}),
        "backproject full frame 32FC1 (NaN holes)": (lambda: backproject(depth_m, intrinsics), {}),
        "backproject full frame, first call (builds the ray grid)": (lambda: first_call(depth, intrinsics), {}),
        "backproject handle mask": (lambda: backproject(depth, intrinsics, handle), {
            "open3d create_from_depth_image (pre-masked depth)": lambda: open3d_points(masked_image, camera),
            "open3d create_from_depth_image, masking and to numpy included": lambda: open3d_points_to_numpy(
                np.where(handle, depth, 0).astype(np.uint16), camera)}),
        "extract_part_points handle (default PartFilter)": (
            lambda: extract_part_points(depth, intrinsics, handle), {}),
        "voxel_means handle 5 mm": (lambda: voxel_means(handle_points, POSE_VOXEL_SIZE), {
            "open3d voxel_down_sample": lambda: handle_cloud.voxel_down_sample(POSE_VOXEL_SIZE),
            "open3d voxel_down_sample, from/to numpy": open3d_voxel_to_numpy}),
        "part_geometry handle": (lambda: part_geometry(handle_points, POSE_VOXEL_SIZE), {}),
        "pipeline handle: mask -> PartPoints -> PartGeometry": (
            lambda: part_geometry(extract_part_points(depth, intrinsics, handle).points, POSE_VOXEL_SIZE), {}),
        "extract_part_points large mask (default PartFilter)": (
            lambda: extract_part_points(depth, intrinsics, large), {
                "back-project, then filter the (N, 3) points": lambda: points_then_filters(depth, intrinsics, large)}),
        "part_geometry large part": (lambda: part_geometry(large_points, POSE_VOXEL_SIZE), {}),
        "pipeline large mask: mask -> PartPoints -> PartGeometry": (
            lambda: part_geometry(extract_part_points(depth, intrinsics, large).points, POSE_VOXEL_SIZE), {}),
    }
    results = {}
    for name, (ours, baselines) in cases.items():
        entry = {"median_ms": round(median_ms(ours, runs), 4), "runs": runs}
        entry["baselines"] = {
            what: {"median_ms": round(median_ms(baseline, runs), 4), "runs": runs}
            for what, baseline in baselines.items()}
        results[name] = entry
        print(f"{name}: {entry['median_ms']:.3f} ms", file=sys.stderr, flush=True)

    full = results["backproject full frame 16UC1"]
    full_ratio = full["median_ms"] / full["baselines"]["open3d create_from_depth_image"]["median_ms"]
    pipeline_ms = results["pipeline handle: mask -> PartPoints -> PartGeometry"]["median_ms"]
    return {
        "benchmark": "geometry",
        "frame": {"path": str(data), "shape": list(depth.shape), "valid_pixels": int(np.count_nonzero(depth)),
                  "handle_pixels": int(np.count_nonzero(handle)), "handle_points": len(handle_points),
                  "large_mask_pixels": int(np.count_nonzero(large)), "large_part_points": len(large_points)},
        "targets": {
            "full_frame_time_vs_open3d": round(full_ratio, 3),
            "full_frame_no_slower_than_open3d": full_ratio <= 1.0,
            "full_frame_half_of_open3d": full_ratio <= 0.5,
            "handle_pipeline_ms": pipeline_ms,
            "handle_pipeline_under_5_ms": pipeline_ms < PIPELINE_TARGET_MS,
        },
        "machine": machine(open3d=o3d.__version__),
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = pathlib.Path(os.environ.get("INSTRUCTPART_DATA", "../shared/data")) / "shapegrasp-knife"
    parser.add_argument("--data", type=pathlib.Path, default=default_data, help="the shapegrasp-knife folder")
    parser.add_argument("--out", type=pathlib.Path, help="also write the JSON here")
    parser.add_argument("--runs", type=int, default=50, help=f"timed runs per case (at least {MIN_RUNS})")
    args = parser.parse_args()
    if args.runs < MIN_RUNS:
        parser.error(f"--runs must be at least {MIN_RUNS} for a stable median, got {args.runs}")
    emit(run(args.data, args.runs), args.out)


if __name__ == "__main__":
    main()
