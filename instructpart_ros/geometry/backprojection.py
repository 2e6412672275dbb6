"""Depth image -> 3D points in the camera optical frame (x right, y down, z forward)."""
from __future__ import annotations

import functools
from typing import NamedTuple, Optional

import numpy as np

from .depth_image import check_depth_image, check_mask, metres_per_unit, valid_depth
from .intrinsics import Intrinsics, IntrinsicsLike, as_intrinsics


class RayGrid(NamedTuple):
    """Per-pixel ``(u - cx) / fx`` and ``(v - cy) / fy``, flat in row-major order."""

    x: np.ndarray
    y: np.ndarray


# Grids up to this many pixels (2048x2048, 32 MB) are cached; larger ones are built per call,
# so that one 12 MP frame does not pin 96 MB for the rest of the process.
MAX_CACHED_GRID_PIXELS = 2048 * 2048


def ray_grid(intrinsics: Intrinsics, height: int, width: int) -> RayGrid:
    """The (read-only) ray grid of an image size: a point is ``(x * z, y * z, z)``.

    Cached per intrinsics and size up to ``MAX_CACHED_GRID_PIXELS`` (``ray_grid.cache_info()``,
    ``ray_grid.cache_clear()``).
    """
    if height * width > MAX_CACHED_GRID_PIXELS:
        return _ray_grid(intrinsics, height, width)
    return _cached_ray_grid(intrinsics, height, width)


def _ray_grid(intrinsics: Intrinsics, height: int, width: int) -> RayGrid:
    u = (np.arange(width, dtype=np.float64) - intrinsics.cx) / intrinsics.fx
    v = (np.arange(height, dtype=np.float64) - intrinsics.cy) / intrinsics.fy
    x = np.tile(u.astype(np.float32), height)
    y = np.repeat(v.astype(np.float32), width)
    x.flags.writeable = False
    y.flags.writeable = False
    return RayGrid(x, y)


_cached_ray_grid = functools.lru_cache(maxsize=4)(_ray_grid)  # one 1280x800 grid is 8 MB
ray_grid.cache_info = _cached_ray_grid.cache_info
ray_grid.cache_clear = _cached_ray_grid.cache_clear


def valid_pixels(depth: np.ndarray, mask: Optional[np.ndarray] = None) -> np.ndarray:
    """Flat indices ``v * width + u`` (int64, row-major) of the pixels with valid depth, within
    ``mask`` (bool, the depth's shape) if given. ``depth`` must have passed ``check_depth_image``."""
    valid = valid_depth(depth)
    if mask is not None:
        valid &= check_mask(mask, depth.shape)
    return np.flatnonzero(valid)


def pixel_depths(depth: np.ndarray, pixels: np.ndarray, scale: float) -> np.ndarray:
    """The depth at flat ``pixels`` as float32 metres (``scale``: metres per depth unit)."""
    return _metres(np.take(depth.reshape(-1), pixels), scale)


def _metres(raw_depth: np.ndarray, scale: float) -> np.ndarray:
    z = raw_depth.astype(np.float32, copy=False)  # a gathered copy already: scaled in place
    if scale != 1.0:
        z *= np.float32(scale)
    return z


def pixel_points(rays: RayGrid, pixels: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``(N, 3)`` float32 points of flat ``pixels`` at depths ``z`` (float32 metres)."""
    return _points(rays, z, lambda values: np.take(values, pixels))


def _points(rays: RayGrid, z: np.ndarray, select) -> np.ndarray:
    # The output first, then one gathered ray array at a time: with both temporaries alive
    # glibc maps and unmaps them on every call (3,500 page faults, 3x slower at 1280x800).
    points = np.empty((z.size, 3), dtype=np.float32)
    np.multiply(select(rays.x), z, out=points[:, 0])
    np.multiply(select(rays.y), z, out=points[:, 1])
    points[:, 2] = z
    return points


def backproject(
    depth: np.ndarray,
    intrinsics: IntrinsicsLike,
    mask: Optional[np.ndarray] = None,
    depth_scale: Optional[float] = None,
    return_pixels: bool = False,
):
    """Back-project valid depth pixels to ``(N, 3)`` float32 points in metres.

    ``depth`` is uint16 millimetres (0 = invalid) or float32/float64 metres (0, negative,
    NaN, inf = invalid); ``depth_scale`` (metres per unit) overrides the unit. ``mask``
    (bool, same shape) selects pixels. Points come in row-major pixel order. With
    ``return_pixels`` also returns the points' flat pixel indices ``v * width + u``
    (int64; ``np.unravel_index(pixels, depth.shape)`` gives rows and columns).
    """
    depth = check_depth_image(depth)
    intrinsics = as_intrinsics(intrinsics)
    scale = metres_per_unit(depth, depth_scale)
    rays = ray_grid(intrinsics, *depth.shape)
    if mask is None and not return_pixels:
        # A boolean selection gathers faster than an index array when no indices are wanted.
        selection = valid_depth(depth.reshape(-1))
        return _points(rays, _metres(depth.reshape(-1)[selection], scale), lambda values: values[selection])
    pixels = valid_pixels(depth, mask)
    points = pixel_points(rays, pixels, pixel_depths(depth, pixels, scale))
    return (points, pixels) if return_pixels else points
