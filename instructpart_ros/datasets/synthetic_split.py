"""Write synthetic scenes to disk as an InstructPart split with depth.

    write_split("data/synth", "train", n=2000, seed=0)

gives ``data/synth/train/`` with ``images/<id>.jpg`` (the scene image once per part
sample, as InstructPart stores it), ``masks/<id>.png`` (mode L, 0/1),
``depth/<id>.png`` (uint16 mm), ``camera_info.yaml``, ``data_train.json`` and
``synth_info.json`` (how it was made). ``evaluation.dataset.load_split`` reads it.
The split is built in a hidden folder next to it and renamed into place at the end,
so an interrupted run never leaves a half-written split behind.
"""
from __future__ import annotations

import collections
import concurrent.futures
import json
import multiprocessing
import os
import pathlib
import shutil
import time
from dataclasses import asdict, dataclass
from typing import Iterator

import cv2
import numpy as np

from .. import __version__
from .rgbd_files import CAMERA_INFO_FILE, DEPTH_DIR, CameraCalibration, write_camera_info
from .synthetic_scenes import SceneConfig, SyntheticScene, render_scene

SPLITS = ("train", "test")
INFO_FILE = "synth_info.json"
JPEG_QUALITY = 95
PNG_COMPRESSION = 1   # fast; masks and depth still shrink well
PARALLEL_FROM = 64    # fewer scenes than this render in the calling process


class SplitExistsError(ValueError):
    """The split folder already holds data that writing would replace."""


@dataclass(frozen=True)
class SplitSummary:
    """What :func:`write_split` wrote."""

    folder: pathlib.Path
    scenes: int
    samples: int
    seconds: float
    objects: dict


@dataclass(frozen=True)
class EncodedScene:
    """What writing needs of a scene: its JSON entry, sample ids and encoded files."""

    entry: dict
    object_name: str
    sample_ids: dict
    files: dict


def encode_scene(job: tuple[int, int, SceneConfig, int]) -> EncodedScene:
    """Render and encode scene ``(seed, index, config, jpeg_quality)`` (a worker's task)."""
    seed, index, config, jpeg_quality = job
    scene = render_scene(seed, index, config)
    return EncodedScene(scene.entry(), scene.object_name, scene.sample_ids(),
                        encoded_files(scene, jpeg_quality))


def encoded_scenes(seed: int, n: int, config: SceneConfig, jpeg_quality: int,
                   workers: int) -> Iterator[EncodedScene]:
    """Scenes ``0..n-1`` in order, rendered by ``workers`` processes (1: this one)."""
    jobs = ((seed, index, config, jpeg_quality) for index in range(n))
    if workers <= 1 or n < PARALLEL_FROM:
        yield from map(encode_scene, jobs)
        return
    # Fresh workers, not forks of this process: forking a process whose OpenCV (or torch)
    # thread pool is running can deadlock the child.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context,
                                                  initializer=cv2.setNumThreads, initargs=(1,))
    try:
        yield from pool.map(encode_scene, jobs, chunksize=8)
    finally:   # on an error downstream, drop the scenes not yet rendered
        pool.shutdown(wait=True, cancel_futures=True)


def encoded_files(scene: SyntheticScene, jpeg_quality: int = JPEG_QUALITY) -> dict[str, bytes]:
    """The scene's files, encoded once: ``image`` (JPEG), ``depth`` (16-bit PNG) and
    ``mask:<part>`` (8-bit PNG, 0/1) for each part."""
    bgr = cv2.cvtColor(scene.rgb, cv2.COLOR_RGB2BGR)
    png = [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION]
    files = {"image": _encode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]),
             "depth": _encode(".png", scene.depth_mm, png)}
    for part, mask in scene.parts.items():
        files[f"mask:{part}"] = _encode(".png", mask.astype(np.uint8), png)
    return files


def _encode(extension: str, image: np.ndarray, params: list[int]) -> bytes:
    ok, buffer = cv2.imencode(extension, image, params)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {extension} image of shape {image.shape}")
    return buffer.tobytes()


def write_split(out_root, split: str, n: int, seed: int, config: SceneConfig | None = None, *,
                overwrite: bool = False, jpeg_quality: int = JPEG_QUALITY,
                workers: int | None = None, progress: bool | None = None) -> SplitSummary:
    """Render scenes ``0..n-1`` of ``seed`` into ``out_root/<split>/``.

    An existing non-empty split folder is an error unless ``overwrite`` (and then only
    if ``instructpart synth`` wrote it). ``workers`` processes render (default: all
    usable CPU cores); the files do not depend on it. ``progress=None`` shows a bar on
    a terminal.
    """
    from ..evaluation.progress import progress_bar
    from ..evaluation.scoring import default_workers

    config = config or SceneConfig()
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"the number of scenes must be a positive integer, got {n!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f"jpeg_quality must be between 1 and 100, got {jpeg_quality}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    out_root = pathlib.Path(out_root)
    target = out_root / split
    _check_replaceable(target, overwrite)

    start = time.perf_counter()
    staging = out_root / f".{split}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    for sub in ("images", "masks", DEPTH_DIR):
        (staging / sub).mkdir(parents=True)
    entries, objects, samples = [], collections.Counter(), 0
    try:
        scenes = encoded_scenes(seed, n, config, jpeg_quality, workers or default_workers())
        with progress_bar(n, f"synth {split}", "scene", progress) as bar:
            for scene in scenes:
                samples += _write_scene(staging, scene)
                entries.append(scene.entry)
                objects[scene.object_name] += 1
                bar.update()
        (staging / f"data_{split}.json").write_text(json.dumps(entries, indent=1) + "\n")
        write_camera_info(staging / CAMERA_INFO_FILE,
                          CameraCalibration(config.width, config.height, config.intrinsics),
                          "instructpart_synth",
                          "sensor_msgs/CameraInfo of instructpart synth's top-down camera:\n"
                          f"a pinhole with {config.hfov_deg:g} degrees horizontal field of view, "
                          "no distortion.\ndepth/ is registered to images/ (uint16 millimetres).")
        info = {"generator": "instructpart synth", "version": __version__, "split": split,
                "seed": seed, "scenes": n, "samples": samples, "objects": dict(objects),
                "config": asdict(config)}
        (staging / INFO_FILE).write_text(json.dumps(info, indent=1) + "\n")
        _check_replaceable(target, overwrite)   # again: another run may have written it since
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return SplitSummary(target, n, samples, time.perf_counter() - start, dict(objects))


def _check_replaceable(target: pathlib.Path, overwrite: bool) -> None:
    if target.exists() and not target.is_dir():
        raise SplitExistsError(f"{target} is a file, not a split folder: choose another --out")
    if not target.is_dir() or not any(target.iterdir()):
        return
    if not overwrite:
        raise SplitExistsError(f"{target} already exists and is not empty: pass --overwrite to "
                               "replace it, or choose another --out")
    if not (target / INFO_FILE).is_file():
        raise SplitExistsError(f"refusing to overwrite {target}: it has no {INFO_FILE}, so "
                               "instructpart synth did not write it; choose another --out or "
                               "remove it yourself")


def _write_scene(folder: pathlib.Path, scene: EncodedScene) -> int:
    """Write one scene's per-sample files; return the number of samples."""
    first_image = first_depth = None
    for part, sid in scene.sample_ids.items():
        (folder / "masks" / f"{sid}.png").write_bytes(scene.files[f"mask:{part}"])
        image, depth = folder / "images" / f"{sid}.jpg", folder / DEPTH_DIR / f"{sid}.png"
        first_image = _write_copy(image, scene.files["image"], first_image)
        first_depth = _write_copy(depth, scene.files["depth"], first_depth)
    return len(scene.sample_ids)


def _write_copy(path: pathlib.Path, data: bytes, first: pathlib.Path | None) -> pathlib.Path:
    """Write ``data`` to ``path``: a hard link to ``first`` (the same bytes) where the file
    system allows it, else a copy. Returns the file later copies link to."""
    if first is not None:
        try:
            os.link(first, path)
            return first
        except OSError:
            pass
    path.write_bytes(data)
    return path
