"""The replay's output recording: the frames and instructions it played plus the node's results,
as a rosbag2 directory with MCAP storage (Foxglove opens the ``.mcap``; ``ros2 bag play`` the
directory; RViz shows the topics while it plays).

Topics (the perception node's own names): ``/color/image``, ``/depth/image``,
``/color/camera_info``, ``/instruction`` (inputs, at their recorded times) and
``/part_segmentation``, ``/part_mask``, ``/part_points`` (the result of each frame, logged
at its frame's time). Messages are serialised with ``rosbags``; no ROS install needed.
"""
from __future__ import annotations

import pathlib
from typing import Optional

import numpy as np

from instructpart_ros.package_files import find_share_file

from .rgbd_images import RgbdImages

PART_SEGMENTATION = "instructpart_ros/msg/PartSegmentation"
INPUT_TOPICS = {"color": "/color/image", "depth": "/depth/image", "camera_info": "/color/camera_info",
                "instruction": "/instruction"}
RESULT_TOPICS = {"result": "/part_segmentation", "mask": "/part_mask", "points": "/part_points"}
TYPES = {"color": "sensor_msgs/msg/Image", "depth": "sensor_msgs/msg/Image",
         "camera_info": "sensor_msgs/msg/CameraInfo", "instruction": "std_msgs/msg/String",
         "result": PART_SEGMENTATION, "mask": "sensor_msgs/msg/Image", "points": "sensor_msgs/msg/PointCloud2"}


def replay_typestore():
    """The ROS 2 message types plus this package's ``PartSegmentation``."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.LATEST)
    definition = find_share_file("msg", "PartSegmentation.msg").read_text()
    store.register(get_types_from_msg(definition, PART_SEGMENTATION))
    return store


class ReplayBagWriter:
    """Write inputs and results into ``path`` (a new rosbag2 directory, MCAP storage)."""

    def __init__(self, path: str | pathlib.Path) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path = pathlib.Path(path)
        self.store = replay_typestore()
        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections = {role: self._writer.add_connection(topic, TYPES[role], typestore=self.store)
                             for role, topic in {**INPUT_TOPICS, **RESULT_TOPICS}.items()}
        self.counts = {role: 0 for role in self._connections}

    def _write(self, role: str, time_ns: int, message) -> None:
        self._writer.write(self._connections[role], time_ns, self.store.serialize_cdr(message, TYPES[role]))
        self.counts[role] += 1

    def _header(self, stamp_ns: int, frame_id: str):
        types = self.store.types
        stamp = types["builtin_interfaces/msg/Time"](sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
        return types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)

    def _image(self, pixels: np.ndarray, encoding: str, stamp_ns: int, frame_id: str):
        pixels = np.ascontiguousarray(pixels)
        return self.store.types["sensor_msgs/msg/Image"](
            header=self._header(stamp_ns, frame_id), height=pixels.shape[0], width=pixels.shape[1], encoding=encoding,
            is_bigendian=0, step=pixels.strides[0], data=pixels.reshape(-1).view(np.uint8))

    def write_frame(self, time_ns: int, images: RgbdImages) -> None:
        """The colour image, and depth with camera info when the frame has them, as the node got them."""
        self._write("color", time_ns, self._image(images.rgb, "rgb8", images.stamp_ns, images.frame_id))
        if not images.has_depth:
            return
        encoding = "16UC1" if images.depth.dtype == np.uint16 else "32FC1"
        depth_stamp = images.stamp_ns if images.depth_stamp_ns is None else images.depth_stamp_ns
        self._write("depth", time_ns, self._image(images.depth, encoding, depth_stamp, images.frame_id))
        calibration = images.calibration
        info = self.store.types["sensor_msgs/msg/CameraInfo"](
            header=self._header(images.stamp_ns, images.frame_id), height=calibration.height, width=calibration.width,
            distortion_model=calibration.distortion_model, d=np.array(calibration.d, np.float64),
            k=np.array(calibration.k, np.float64), r=np.array(calibration.r, np.float64),
            p=np.array(calibration.p, np.float64), binning_x=0, binning_y=0,
            roi=self.store.types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                                     do_rectify=False))
        self._write("camera_info", time_ns, info)

    def write_instruction(self, time_ns: int, text: str) -> None:
        self._write("instruction", time_ns, self.store.types["std_msgs/msg/String"](data=text))

    def write_result(self, time_ns: int, result_cdr: bytes) -> None:
        """A serialised ``PartSegmentation``, and its mask and points on topics of their own."""
        self._writer.write(self._connections["result"], time_ns, result_cdr)
        self.counts["result"] += 1
        result = self.store.deserialize_cdr(result_cdr, PART_SEGMENTATION)
        if result.mask.width and result.mask.height:
            self._write("mask", time_ns, result.mask)
        self._write("points", time_ns, result.points)

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> "ReplayBagWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def bag_file(directory: pathlib.Path) -> Optional[pathlib.Path]:
    """The ``.mcap`` file inside a rosbag2 directory written by :class:`ReplayBagWriter`."""
    files = sorted(pathlib.Path(directory).glob("*.mcap"))
    return files[0] if files else None
