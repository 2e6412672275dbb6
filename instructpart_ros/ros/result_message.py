"""Build ``PartSegmentation`` messages: full results and well-formed empty ones."""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from sensor_msgs.msg import Image, RegionOfInterest
from std_msgs.msg import Header

from instructpart_ros.datasets.instruction_forms import parse_part_name
from instructpart_ros.geometry import PartGeometry
from instructpart_ros.msg import PartSegmentation

from .conversions import mask_to_image, points_to_pointcloud2

NO_POINTS = np.zeros((0, 3), dtype=np.float32)


def mask_roi(mask: np.ndarray) -> RegionOfInterest:
    """The mask's bounding box in pixels (all zero when the mask is empty)."""
    x, y, width, height = cv2.boundingRect(mask.view(np.uint8) if mask.dtype == np.bool_ else mask)
    return RegionOfInterest(x_offset=x, y_offset=y, width=width, height=height)


def part_pose(geometry: Optional[PartGeometry]) -> tuple[Pose, Vector3]:
    """Centroid + principal-axes orientation and box extent; identity pose and zero extent without one."""
    if geometry is None or not geometry.ok:
        return Pose(), Vector3()
    x, y, z, w = (float(value) for value in geometry.quaternion)
    position = Point(**dict(zip("xyz", (float(value) for value in geometry.centroid))))
    extent = Vector3(**dict(zip("xyz", (float(value) for value in geometry.extent))))
    return Pose(position=position, orientation=Quaternion(x=x, y=y, z=z, w=w)), extent


def part_names(instruction: str) -> dict:
    """``object_name`` and ``part_name`` when the instruction names the part ("handle of the knife"), else empty."""
    named = parse_part_name(instruction)
    return {"object_name": named[0], "part_name": named[1]} if named else {}


def empty_result(header: Header, instruction: str, status: str) -> PartSegmentation:
    """A result with no mask and no points that says why in ``status``."""
    return PartSegmentation(
        header=header,
        instruction=instruction,
        **part_names(instruction),
        mask=Image(header=header, encoding="mono8"),
        points=points_to_pointcloud2(NO_POINTS, header),
        status=status,
    )


def part_result(
    header: Header,
    instruction: str,
    answer: str,
    score: float,
    mask: np.ndarray,
    points: np.ndarray,
    point_colors: Optional[np.ndarray],
    geometry: Optional[PartGeometry],
    status: str,
) -> PartSegmentation:
    """A result with the colour-sized mask, its part points (may be empty) and pose."""
    pose, extent = part_pose(geometry)
    return PartSegmentation(
        header=header,
        instruction=instruction,
        **part_names(instruction),
        answer=answer,
        score=float(score),
        mask=mask_to_image(mask, header),
        roi=mask_roi(mask),
        points=points_to_pointcloud2(points, header, point_colors),
        pose=pose,
        extent=extent,
        num_points=len(points),
        status=status,
    )
