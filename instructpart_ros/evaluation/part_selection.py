"""Part-selection accuracy: did the returned mask pick the part the task needs?

A selection is correct when the returned mask is non-empty, at least half of its pixels
lie in the target part's mask, and, where other parts of the object are annotated, the
target part holds more of its pixels than any other part. Counts are compared as
integers (2·in_target >= returned), so a mask exactly half in the target is correct.

The "anchor" is the pixel a grasp planner would aim at: the centroid of the returned
part points projected into the image (or, for a 2D-only result, the centroid of the
mask's pixels). The anchor hits when that pixel lies in the target part.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Optional, Tuple

import cv2
import numpy as np

from instructpart_ros.geometry import Intrinsics

ANCHOR_FROM_POINTS = "points"
ANCHOR_FROM_MASK = "mask"


@dataclass(frozen=True)
class PartSelection:
    """The verdict on one returned mask, with the pixel counts it rests on."""

    correct: bool
    reason: str  # why it is wrong ("" when correct)
    returned_pixels: int
    part_pixels: Mapping[str, int]  # returned pixels inside each annotated part (target first)

    def as_dict(self) -> dict:
        return asdict(self)


def _count(mask: np.ndarray, part: np.ndarray) -> int:
    return int(np.count_nonzero(mask & part.astype(bool, copy=False)))


def select_part(mask: np.ndarray, target_part: str, parts: Mapping[str, np.ndarray]) -> PartSelection:
    """Judge ``mask`` (bool H×W) against the annotated ``parts`` (name -> mask of the same size).

    ``parts[target_part]`` is the part the task needs; the others are the object's other
    annotated parts (may be none).
    """
    if target_part not in parts:
        raise ValueError(f"target part {target_part!r} is not among the annotated parts {sorted(parts)}")
    mask = np.asarray(mask, dtype=bool)
    for name, part in parts.items():
        if part.shape != mask.shape:
            raise ValueError(f"part mask {name!r} is {part.shape[1]}x{part.shape[0]} but the returned mask is "
                             f"{mask.shape[1]}x{mask.shape[0]}: masks must have the image's size")
    returned = int(np.count_nonzero(mask))
    counts = {target_part: _count(mask, parts[target_part])}
    counts.update({name: _count(mask, part)
                   for name, part in parts.items() if name != target_part})
    in_target = counts[target_part]
    reason = ""
    if returned == 0:
        reason = "empty mask"
    elif 2 * in_target < returned:
        reason = f"{in_target} of {returned} returned pixels in the {target_part} (less than half)"
    else:
        rival = max(((n, c) for n, c in counts.items() if n != target_part), key=lambda item: item[1],
                    default=None)
        if rival is not None and rival[1] >= in_target:
            reason = f"the {rival[0]} holds {rival[1]} returned pixels, the {target_part} {in_target}"
    return PartSelection(not reason, reason, returned, counts)


def anchor_from_points(points: np.ndarray, intrinsics: Intrinsics) -> Optional[Tuple[int, int]]:
    """The pixel ``(u, v)`` of the points' centroid (optical frame, metres), rounded; None without points."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(points) == 0:
        return None
    x, y, z = points.mean(axis=0)
    if not z > 0:
        return None
    return (int(round(intrinsics.fx * x / z + intrinsics.cx)), int(round(intrinsics.fy * y / z + intrinsics.cy)))


def anchor_from_mask(mask: np.ndarray) -> Optional[Tuple[int, int]]:
    """The pixel ``(u, v)`` of the mask's centroid, rounded; None for an empty mask."""
    moments = cv2.moments(np.asarray(mask, dtype=np.uint8), binaryImage=True)
    if moments["m00"] == 0:
        return None
    return (int(round(moments["m10"] / moments["m00"])), int(round(moments["m01"] / moments["m00"])))


def anchor_hits(anchor: Optional[Tuple[int, int]], target: np.ndarray) -> bool:
    """Whether the anchor pixel lies inside the target part (False without an anchor or off the image)."""
    if anchor is None:
        return False
    u, v = anchor
    height, width = target.shape[:2]
    return 0 <= u < width and 0 <= v < height and bool(target[v, u])
