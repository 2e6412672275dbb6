"""Image-side resize: pixel fidelity to PIL and preprocess time, next to the bicubic path it replaced.

For each encoder path on the real knife frame (landscape, and a portrait crop that is
upscaled) it reports the largest and mean difference, in grey levels, between the
resized pixels and PIL's reference resize:

- ``sam`` (LISA's SAM ViT-H input, 1024 px): PIL BILINEAR, as segment-anything's
  ``ResizeLongestSide``; the baseline is the antialiased bicubic resize used before.
- ``dinov2`` (PISA, 518 px): PIL BICUBIC, DINOv2's own resampling.

``cpu`` is what ``preprocess`` does on the CPU (PIL itself), ``torch_on_cpu`` the CUDA
path's arithmetic run on CPU tensors, and ``cuda`` (only where a GPU is present) the
real CUDA path. Timings are the median and minimum of ``--runs`` full ``preprocess_rgb`` calls
(resize, normalise, pad, bfloat16) on each device, new and baseline interleaved.

    python bench/image_resize.py [--runs 30] [--out FILE]
"""
from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import time

import numpy as np
import PIL
import torch
from PIL import Image

from instructpart_ros.model.dinov2_image_encoder import DINOV2_RESIZE, IMAGENET_MEAN, IMAGENET_STD
from instructpart_ros.model.image_preprocessing import PilResize, preprocess_rgb, resized_shape, rgb_to_device
from instructpart_ros.model.sam_image_encoder import SAM_PIXEL_MEAN, SAM_PIXEL_STD, SEGMENT_ANYTHING_RESIZE
from _common import emit, machine

PATHS = {"sam": (SEGMENT_ANYTHING_RESIZE, 1024, SAM_PIXEL_MEAN, SAM_PIXEL_STD),
         "dinov2": (DINOV2_RESIZE, 518, IMAGENET_MEAN, IMAGENET_STD)}


class BicubicBaseline(PilResize):
    """The resize the SAM path used before: torch's antialiased bicubic on every device."""

    def __call__(self, rgb, size, device):
        return self.with_torch(rgb_to_device(rgb, device), size)


BASELINE = BicubicBaseline(Image.Resampling.BICUBIC)


def knife_frames() -> dict[str, np.ndarray]:
    path = pathlib.Path(os.environ.get("INSTRUCTPART_DATA", "")) / "shapegrasp-knife" / "color.png"
    if path.is_file():
        rgb = np.asarray(Image.open(path).convert("RGB"))
    else:
        rgb = np.random.default_rng(0).integers(0, 256, (800, 1280, 3), dtype=np.uint8)
    return {"landscape_800x1280": rgb, "portrait_800x700": np.ascontiguousarray(rgb[:, :700])}


def difference(resized: torch.Tensor, reference: np.ndarray) -> dict:
    """Grey-level differences of (1, 3, h, w) pixels to an HxWx3 uint8 reference."""
    delta = np.abs(resized[0].permute(1, 2, 0).cpu().numpy() - reference.astype(np.float32))
    return {"max": float(delta.max()), "mean": round(float(delta.mean()), 4),
            "over_1_percent": round(100 * float((delta > 1).mean()), 3)}


def fidelity(resize: PilResize, rgb: np.ndarray, side: int, devices: list[str]) -> dict:
    size = resized_shape(*rgb.shape[:2], side)
    reference = resize.with_pil(rgb, size)
    result = {"size": list(size), "cpu": difference(resize(rgb, size, "cpu"), reference),
              "torch_on_cpu": difference(resize.with_torch(rgb_to_device(rgb, "cpu"), size), reference)}
    for device in devices:
        if device != "cpu":
            result[device] = difference(resize(rgb, size, device), reference)
    return result


def preprocess_ms(rgb, side, mean, std, device: str, runs: int, **resizes: PilResize) -> dict[str, dict]:
    """Median and fastest ms of one full preprocess per resize, runs interleaved so load changes hit all alike."""
    def run(resize):
        preprocess_rgb(rgb, size=side, resize=resize, mean=mean, std=std, device=device, dtype=torch.bfloat16)
        if device == "cuda":
            torch.cuda.synchronize()

    times = {name: [] for name in resizes}
    for name, resize in resizes.items():
        run(resize)  # warm up
    for _ in range(runs):
        for name, resize in resizes.items():
            start = time.perf_counter()
            run(resize)
            times[name].append(1e3 * (time.perf_counter() - start))
    return {name: {"median": round(statistics.median(values), 2), "min": round(min(values), 2)}
            for name, values in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--out", type=pathlib.Path)
    args = parser.parse_args(argv)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    frames = knife_frames()
    report = {"machine": machine(torch=torch.__version__, pillow=PIL.__version__, devices=devices),
              "unit": "grey levels (0..255); ms", "paths": {}}
    for name, (resize, side, mean, std) in PATHS.items():
        entry = {"filter": resize.filter.name, "fidelity": {}, "preprocess_ms": {}}
        for frame, rgb in frames.items():
            entry["fidelity"][frame] = fidelity(resize, rgb, side, devices)
            if name == "sam":
                size = resized_shape(*rgb.shape[:2], side)
                entry["fidelity"][frame]["baseline_bicubic"] = difference(
                    BASELINE(rgb, size, "cpu"), resize.with_pil(rgb, size))
        rgb = frames["landscape_800x1280"]
        for device in devices:
            entry["preprocess_ms"][device] = preprocess_ms(rgb, side, mean, std, device, args.runs,
                                                           new=resize, baseline_bicubic=BASELINE)
        report["paths"][name] = entry
    sam = report["paths"]["sam"]["fidelity"].values()
    report["sam_matches_pil"] = {
        "cpu_exact": all(frame["cpu"]["max"] == 0 for frame in sam),
        "cuda_within_one_grey_level": (all(frame["cuda"]["max"] <= 1 for frame in sam) if "cuda" in devices
                                       else "not measured: no CUDA GPU")}
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
