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


@functools.lru_cache(maxsize=4)  # one 1280x800 grid is 8 MB
def ray_grid(intrinsics: Intrinsics, height: int, width: int) -> RayGrid:
    """The (cached, read-only) ray grid of an image size: a point is ``(x * z, y * z, z)``."""
    u = (np.arange(width, dtype=np.float64) - intrinsics.cx) / intrinsics.fx
    v = (np.arange(height, dtype=np.float64) - intrinsics.cy) / intrinsics.fy
    x = np.tile(u.astype(np.float32), height)
    y = np.repeat(v.astype(np.float32), width)
    x.flags.writeable = False
    y.flags.writeable = False
    return RayGrid(x, y)


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
    flat_depth = depth.reshape(-1)
    if mask is not None:
        candidates = np.flatnonzero(check_mask(mask, depth.shape))
        selection = candidates[valid_depth(flat_depth[candidates])]
    elif return_pixels:
        selection = np.flatnonzero(valid_depth(flat_depth))
    else:
        # A boolean selection gathers faster than an index array when no indices are wanted.
        selection = valid_depth(flat_depth)
    z = flat_depth[selection].astype(np.float32, copy=False)
    if scale != 1.0:
        z *= np.float32(scale)
    rays = ray_grid(intrinsics, *depth.shape)
    points = np.empty((z.size, 3), dtype=np.float32)
    np.multiply(rays.x[selection], z, out=points[:, 0])
    np.multiply(rays.y[selection], z, out=points[:, 1])
    points[:, 2] = z
    if not return_pixels:
        return points
    return points, selection
