"""Write test recordings with ``rosbags`` itself: rosbag2 (sqlite3 or MCAP) and ROS 1 ``.bag``.

A recording is a list of :class:`Record` (topic, message type, bag time, fields); the
helpers below build the fields of the sensor messages a camera driver publishes.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import numpy as np
from rosbags.typesys import Stores, get_typestore

from instructpart_ros.datasets.compressed_images import encode_compressed_depth

import cv2

ROS2 = get_typestore(Stores.LATEST)
ROS1 = get_typestore(Stores.ROS1_NOETIC)


@dataclass
class Record:
    topic: str
    msgtype: str
    bag_time_ns: int
    fields: dict  # message fields; nested messages as dicts, header as {"stamp_ns", "frame_id"}


def _build(store, msgtype: str, fields: dict, ros1: bool):
    cls = store.types[msgtype]
    values = {}
    for name, value in fields.items():
        if name == "header":
            stamp = value["stamp_ns"]
            time_cls = store.types["builtin_interfaces/msg/Time"]
            time = time_cls(sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000)
            header = dict(stamp=time, frame_id=value.get("frame_id", ""))
            if ros1:
                header["seq"] = 0
            value = store.types["std_msgs/msg/Header"](**header)
        values[name.upper() if ros1 and name in ("k", "d", "r", "p") else name] = value
    if msgtype == "sensor_msgs/msg/CameraInfo":
        roi = store.types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                              do_rectify=False)
        values.setdefault("binning_x", 0)
        values.setdefault("binning_y", 0)
        values.setdefault("roi", roi)
    return cls(**values)


def write_bag(path: pathlib.Path, records: Sequence[Record], storage: str = "sqlite3",
              extra_types: Optional[dict] = None) -> pathlib.Path:
    """Write ``records`` as rosbag2 (``storage`` sqlite3 or mcap) or, for a ``.bag`` path, ROS 1.

    ``extra_types`` (msgtype -> .msg text) registers vendor types; their records carry
    ``fields`` built for them.
    """
    ros1 = path.suffix == ".bag"
    store = get_typestore(Stores.ROS1_NOETIC if ros1 else Stores.LATEST)
    if extra_types:
        from rosbags.typesys import get_types_from_msg
        for msgtype, text in extra_types.items():
            store.register(get_types_from_msg(text, msgtype))
    if ros1:
        from rosbags.rosbag1 import Writer
        writer = Writer(path)
    else:
        from rosbags.rosbag2 import StoragePlugin, Writer
        plugin = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}[storage]
        writer = Writer(path, version=9, storage_plugin=plugin)
    with writer:
        connections = {}
        for record in sorted(records, key=lambda r: r.bag_time_ns):
            key = (record.topic, record.msgtype)
            if key not in connections:
                connections[key] = writer.add_connection(record.topic, record.msgtype, typestore=store)
            msg = _build(store, record.msgtype, record.fields, ros1)
            data = store.serialize_ros1(msg, record.msgtype) if ros1 else store.serialize_cdr(msg, record.msgtype)
            writer.write(connections[key], record.bag_time_ns, data)
    return path


def header(stamp_ns: int, frame_id: str = "camera_color_optical_frame") -> dict:
    return {"stamp_ns": stamp_ns, "frame_id": frame_id}


def image_fields(pixels: np.ndarray, encoding: str, stamp_ns: int, frame_id="camera_color_optical_frame") -> dict:
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    return dict(header=header(stamp_ns, frame_id), height=height, width=width, encoding=encoding, is_bigendian=0,
                step=pixels.strides[0], data=pixels.reshape(-1).view(np.uint8).copy())


def compressed_color_fields(rgb: np.ndarray, stamp_ns: int, frame_id="camera_color_optical_frame") -> dict:
    ok, jpeg = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))  # PNG: lossless, exact pixels
    assert ok
    return dict(header=header(stamp_ns, frame_id), format="rgb8; png compressed bgr8",
                data=np.frombuffer(jpeg.tobytes(), np.uint8).copy())


def compressed_depth_fields(depth: np.ndarray, stamp_ns: int, frame_id="camera_color_optical_frame") -> dict:
    data, image_format = encode_compressed_depth(depth)
    return dict(header=header(stamp_ns, frame_id), format=image_format, data=np.frombuffer(data, np.uint8).copy())


def camera_info_fields(width: int, height: int, k: Iterable[float], stamp_ns: int,
                       frame_id="camera_color_optical_frame", p: Optional[Iterable[float]] = None) -> dict:
    k = [float(v) for v in k]
    if p is None:
        p = [k[0], k[1], k[2], 0.0, k[3], k[4], k[5], 0.0, k[6], k[7], k[8], 0.0]
    return dict(header=header(stamp_ns, frame_id), height=height, width=width, distortion_model="plumb_bob",
                d=np.zeros(5), k=np.array(k, np.float64), r=np.eye(3).reshape(-1),
                p=np.array([float(v) for v in p], np.float64))


def string_fields(text: str) -> dict:
    return {"data": text}
