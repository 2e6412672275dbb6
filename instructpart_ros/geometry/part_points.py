"""Part mask + aligned depth -> the part's filtered 3D points, with what each filter removed."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from .backprojection import backproject
from .depth_image import check_depth_image, check_mask
from .intrinsics import IntrinsicsLike
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
    mask_pixels = int(np.count_nonzero(mask))
    eroded = erode_mask(mask, part_filter.erode_px)
    eroded_pixels = int(np.count_nonzero(eroded))
    points, pixels = backproject(depth, intrinsics, eroded, depth_scale, return_pixels=True)
    after_invalid = len(points)

    keep = in_depth_range(points[:, 2], part_filter.min_depth, part_filter.max_depth)
    points, pixels = points[keep], pixels[keep]
    after_range = len(points)

    keep = depth_inliers(points[:, 2], part_filter.outlier_sigmas, part_filter.outlier_min_band)
    points, pixels = points[keep], pixels[keep]
    after_outliers = len(points)

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
