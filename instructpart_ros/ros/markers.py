"""RViz markers of a part's pose: centroid sphere, principal axes, oriented box."""
from __future__ import annotations

from typing import Optional

import numpy as np
from geometry_msgs.msg import Point, Pose, Vector3
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from instructpart_ros.geometry import PartGeometry

from .result_message import part_pose

NAMESPACE = "instructpart_part"
AXIS_COLORS = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))  # x red, y green, z blue (RViz)
MIN_AXIS_LENGTH = 0.03  # metres: keeps the axes visible on a tiny part


def part_markers(header: Header, geometry: Optional[PartGeometry]) -> MarkerArray:
    """A DELETEALL (clears the previous part) followed, when there is a pose, by its markers."""
    markers = [Marker(header=header, ns=NAMESPACE, action=Marker.DELETEALL)]
    if geometry is None or not geometry.ok:
        return MarkerArray(markers=markers)
    pose, extent = part_pose(geometry)
    centroid = Marker(header=header, ns=NAMESPACE, id=0, type=Marker.SPHERE, pose=pose,
                      scale=Vector3(x=0.01, y=0.01, z=0.01), color=ColorRGBA(r=1.0, g=1.0, b=0.0, a=1.0))
    box_pose = Pose(position=Point(**dict(zip("xyz", (float(v) for v in geometry.box_center)))),
                    orientation=pose.orientation)
    box = Marker(header=header, ns=NAMESPACE, id=1, type=Marker.CUBE, pose=box_pose, scale=extent,
                 color=ColorRGBA(r=1.0, g=0.5, b=0.0, a=0.3))
    markers += [centroid, box]
    length = max(float(np.max(geometry.extent)) / 2.0, MIN_AXIS_LENGTH)
    start = np.asarray(geometry.centroid, dtype=float)
    for index, rgb in enumerate(AXIS_COLORS):
        end = start + length * np.asarray(geometry.axes)[:, index]
        markers.append(Marker(
            header=header, ns=NAMESPACE, id=2 + index, type=Marker.ARROW,
            points=[Point(**dict(zip("xyz", map(float, start)))), Point(**dict(zip("xyz", map(float, end))))],
            scale=Vector3(x=0.004, y=0.008, z=0.0),  # shaft diameter, head diameter, head length (auto)
            color=ColorRGBA(r=rgb[0], g=rgb[1], b=rgb[2], a=1.0),
        ))
    return MarkerArray(markers=markers)
