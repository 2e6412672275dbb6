"""Part mask + aligned depth -> the part's filtered 3D points, with what each filter removed."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from .backprojection import pixel_depths, pixel_points, ray_grid, valid_pixels
from .depth_image import check_depth_image, check_mask, metres_per_unit
from .intrinsics import IntrinsicsLike, as_intrinsics
from .part_filter import PartFilter, depth_inliers, erode_mask, in_depth_range
from .voxel import voxel_first_indices


@dataclass(frozen=True)
class FilterCounts:
    """Pixels in the mask and how many each stage removed, in the order they run."""

    mask_pixels: int
    eroded: int
    invalid_depth: int
    out_of_range: int
    outliers: int
    voxel: int

    @property
    def kept(self) -> int:
        removed = self.eroded + self.invalid_depth + self.out_of_range + self.outliers + self.voxel
        return self.mask_pixels - removed

    def as_dict(self) -> dict:
        return {**asdict(self), "kept": self.kept}


@dataclass(frozen=True)
class PartPoints:
    """The part's points (``(N, 3)`` float32 metres, optical frame, row-major pixel order),
    their flat pixel indices ``v * width + u`` (int64), the image shape and the filter counts."""

    points: np.ndarray
    pixels: np.ndarray
    image_shape: tuple
    counts: FilterCounts

    def __len__(self) -> int:
        return len(self.points)

    def kept_mask(self) -> np.ndarray:
        """A bool image of the pixels whose points survived every filter."""
        mask = np.zeros(self.image_shape[0] * self.image_shape[1], dtype=bool)
        mask[self.pixels] = True
        return mask.reshape(self.image_shape)


def extract_part_points(
    depth: np.ndarray,
    intrinsics: IntrinsicsLike,
    mask: np.ndarray,
    part_filter: PartFilter = PartFilter(),
    depth_scale: Optional[float] = None,
) -> PartPoints:
    """Back-project the masked part and filter it: erosion, invalid depth, depth range,
    robust depth outliers, voxel down-sampling (each set in ``part_filter``).

    An empty mask, or one that filtering empties, gives zero points, not an exception.
    """
    depth = check_depth_image(depth)
    mask = check_mask(mask, depth.shape)
    intrinsics = as_intrinsics(intrinsics)
    scale = metres_per_unit(depth, depth_scale)
    mask_pixels = int(np.count_nonzero(mask))
    eroded = erode_mask(mask, part_filter.erode_px)
    eroded_pixels = int(np.count_nonzero(eroded))
    # The filters need only the depths: they run on pixel indices and z, and the (N, 3)
    # points are built once for the pixels that survive.
    pixels = valid_pixels(depth, eroded)
    z = pixel_depths(depth, pixels, scale)
    after_invalid = len(z)

    # The outlier statistics need the in-range depths, but the pixels are selected once for both filters.
    in_range = in_depth_range(z, part_filter.min_depth, part_filter.max_depth)
    ranged = z if in_range.all() else z[in_range]
    after_range = len(ranged)
    inliers = depth_inliers(ranged, part_filter.outlier_sigmas, part_filter.outlier_min_band)
    if ranged is not z:
        in_range[in_range] = inliers  # in_range becomes "in range and an inlier"
        inliers = in_range
    pixels, z = _kept(inliers, pixels, z)
    after_outliers = len(z)

    points = pixel_points(ray_grid(intrinsics, *depth.shape), pixels, z)
    if part_filter.voxel_size > 0.0:
        keep = voxel_first_indices(points, part_filter.voxel_size)
        points, pixels = points[keep], pixels[keep]

    counts = FilterCounts(
        mask_pixels=mask_pixels,
        eroded=mask_pixels - eroded_pixels,
        invalid_depth=eroded_pixels - after_invalid,
        out_of_range=after_invalid - after_range,
        outliers=after_range - after_outliers,
        voxel=after_outliers - len(points),
    )
    return PartPoints(points=points, pixels=pixels, image_shape=depth.shape, counts=counts)


def _kept(keep: np.ndarray, pixels: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pixels`` and ``z`` where ``keep`` is true (no copies when it keeps everything, the usual case)."""
    if keep.all():
        return pixels, z
    return pixels[keep], z[keep]
