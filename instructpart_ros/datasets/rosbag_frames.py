"""RGB-D frames and instructions from a recording, read with ``rosbags`` (no ROS install).

Reads rosbag2 (a directory, or one ``.mcap`` / ``.db3`` file) and ROS 1 ``.bag`` files.
Colour and depth may be raw ``sensor_msgs/Image`` or ``CompressedImage`` (``compressed``
colour, ``compressedDepth`` depth); a topic given as ``.../image_raw`` is also found as
``.../image_raw/compressed`` (``/compressedDepth`` for depth). Only the configured topics
are ever deserialised, so vendor topics of unknown types are listed and skipped.

What real recordings do, and what happens here:

- colour and depth of one moment stamped tens of ms apart: each colour image is paired
  with the depth image whose *header* stamp is nearest, within ``sync_slop`` (bag
  arrival times are not used);
- camera_info published once, stamped 0, with an empty frame_id, or with only K filled:
  intrinsics are static for a camera, so each frame takes the camera_info nearest in
  stamp within ``sync_slop``, else the first one recorded (``camera_info_static``);
- depth not registered to colour (its camera_info's size or K differs from the
  colour's, or its image size or frame differs): :class:`BagError` naming both, and the
  driver option that registers them; pixels are never paired as if aligned;
- no camera_info at all: frames are 2D-only and a warning says why;
- a damaged or truncated file: the frames read before the damage are kept and
  ``truncated`` says where reading stopped.
"""
from __future__ import annotations

import collections
import pathlib
from dataclasses import dataclass
from typing import Deque, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

from instructpart_ros.evaluation.dataset import DatasetError

from .camera_info_fields import CameraInfoFields
from .compressed_images import decode_compressed_color, decode_compressed_depth
from .image_messages import depth_to_numpy, image_to_rgb
from .rgbd_images import RgbdImages

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
STRING = "std_msgs/msg/String"
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)
COMPRESSED_SUFFIX = {"color": "/compressed", "depth": "/compressedDepth"}
LOOKAHEAD_NS = 1_000_000_000  # a colour image waits this much bag time for its depth
DEPTH_BUFFER = 64
ALIGN_HINT = ("record depth registered to colour: RealSense align_depth.enable:=true "
              "(topic .../aligned_depth_to_color/image_raw), ZED depth/depth_registered")


class BagError(DatasetError):
    """A recording that cannot be replayed (the message names the bag, the topic and the fix)."""


@dataclass(frozen=True)
class BagTopics:
    """The topics a recording is read from (RealSense ``realsense2_camera`` 4.x names by default)."""

    color: str = "/camera/camera/color/image_raw"
    depth: str = "/camera/camera/aligned_depth_to_color/image_raw"
    color_info: str = "/camera/camera/color/camera_info"
    depth_info: str = "/camera/camera/aligned_depth_to_color/camera_info"
    instruction: str = "/instruction"


@dataclass(frozen=True)
class BagFrame:
    """A colour image with its paired depth and intrinsics."""

    index: int  # colour message number in the bag, from 0
    bag_time_ns: int
    images: RgbdImages
    camera_info_static: bool = False  # intrinsics not stamped with this frame (see module docstring)


@dataclass(frozen=True)
class BagInstruction:
    bag_time_ns: int
    text: str


BagEvent = Union[BagFrame, BagInstruction]


@dataclass
class _Pending:
    bag_time_ns: int
    kind: str  # "color" or "instruction"
    msg: object
    index: int = -1


def stamp_ns_of(header) -> int:
    """A header's stamp in integer nanoseconds (ROS 2 ``nanosec`` or ROS 1 ``nsec``)."""
    stamp = header.stamp
    nanoseconds = getattr(stamp, "nanosec", None)
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nsec if nanoseconds is None else nanoseconds)


def _open_reader(path: pathlib.Path):
    """``(reader, deserialize(raw, msgtype))`` for a ROS 1 ``.bag`` or a rosbag2 recording."""
    from rosbags.typesys import Stores, get_typestore

    if path.suffix == ".bag":
        from rosbags.rosbag1 import Reader

        typestore = get_typestore(Stores.ROS1_NOETIC)
        return Reader(path), typestore.deserialize_ros1
    from rosbags.rosbag2 import Reader

    return Reader(path), get_typestore(Stores.LATEST).deserialize_cdr


class BagRecording:
    """One recording, opened and checked; :meth:`events` yields its frames and instructions."""

    def __init__(self, path: str | pathlib.Path, topics: BagTopics = BagTopics(), sync_slop: float = 0.05,
                 instructions_from_topic: bool = True) -> None:
        self.path = pathlib.Path(path)
        self.name = self.path.stem if self.path.is_file() else self.path.name
        self.topics = topics
        self.slop_ns = int(round(sync_slop * 1e9))
        self.warnings: List[str] = []
        self.truncated = ""
        if not self.path.exists():
            raise BagError(f"bag {self.path} does not exist")
        try:
            self._reader, self._deserialize = _open_reader(self.path)
            self._reader.open()
        except Exception as error:  # noqa: BLE001 - rosbags raises several types for damaged files
            raise BagError(f"bag {self.path} cannot be opened ({type(error).__name__}: {error}): it is not a "
                           "rosbag2 directory, .mcap, .db3 or ROS 1 .bag, or it is damaged or truncated (a recorder "
                           "killed mid-write leaves no index: repair it with ros2 bag reindex, mcap recover or "
                           "rosbag reindex)") from None
        try:
            self._catalog(instructions_from_topic)
            self._color_infos = self._read_infos(self._info_connection)
            self._check_registration()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ catalogue
    def _catalog(self, instructions_from_topic: bool) -> None:
        self.topic_types: Dict[str, str] = {c.topic: c.msgtype for c in self._reader.connections}
        self._connections = {}
        for connection in self._reader.connections:
            self._connections.setdefault(connection.topic, []).append(connection)
        self.color_topic = self._image_topic("color", self.topics.color, required=True)
        self.depth_topic = self._image_topic("depth", self.topics.depth, required=False)
        self._info_connection = self._typed(self.topics.color_info, CAMERA_INFO)
        self._depth_info_connection = self._typed(self.topics.depth_info, CAMERA_INFO)
        self._instruction_connection = self._typed(self.topics.instruction, STRING) if instructions_from_topic \
            else None
        if self._info_connection is None:
            self.warnings.append(f"bag {self.name}: no {CAMERA_INFO} on {self.topics.color_info}: frames are "
                                 "replayed 2D only (record the colour camera_info for part points)")
        if self.depth_topic is None:
            self.warnings.append(f"bag {self.name}: no depth image on {self.topics.depth}: frames are replayed "
                                 "2D only")
        used = {self.color_topic, self.depth_topic, self.topics.color_info, self.topics.depth_info,
                self.topics.instruction}
        self.skipped_topics = {topic: kind for topic, kind in sorted(self.topic_types.items()) if topic not in used}
        self.color_count = sum(c.msgcount for c in self._connections[self.color_topic])

    def _image_topic(self, role: str, topic: str, required: bool) -> Optional[str]:
        for candidate in (topic, topic + COMPRESSED_SUFFIX[role]):
            if self.topic_types.get(candidate) in IMAGE_TYPES:
                return candidate
        if topic in self.topic_types:
            raise BagError(f"bag {self.name}: {role} topic {topic} has type {self.topic_types[topic]}, expected "
                           f"{IMAGE} or {COMPRESSED_IMAGE}")
        if not required:
            return None
        images = [t for t, kind in sorted(self.topic_types.items()) if kind in IMAGE_TYPES]
        raise BagError(f"bag {self.name} has no {role} images on {topic} (nor {topic}{COMPRESSED_SUFFIX[role]}); "
                       f"its image topics are {', '.join(images) or 'none'}: pass the right --{role}-topic")

    def _typed(self, topic: str, msgtype: str):
        kind = self.topic_types.get(topic)
        if kind is None:
            return None
        if kind != msgtype:
            raise BagError(f"bag {self.name}: topic {topic} has type {kind}, expected {msgtype}")
        return self._connections[topic]

    def _read_infos(self, connections) -> List[Tuple[int, CameraInfoFields]]:
        if connections is None:
            return []
        infos = []
        for _, _, raw in self._reader.messages(connections=connections):
            msg = self._deserialize(raw, CAMERA_INFO)
            infos.append((stamp_ns_of(msg.header), CameraInfoFields.from_message(msg)))
        return infos

    def _check_registration(self) -> None:
        if not self._color_infos or self._depth_info_connection is None or self.depth_topic is None:
            return
        depth_infos = self._read_infos(self._depth_info_connection)
        if not depth_infos:
            return
        color, depth = self._color_infos[0][1], depth_infos[0][1]
        if not color.same_camera_model(depth):
            raise BagError(
                f"bag {self.name}: depth on {self.depth_topic} is not registered to colour: its camera_info "
                f"{self.topics.depth_info} is {depth.width}x{depth.height} with K={list(depth.k)}, but the colour's "
                f"{self.topics.color_info} is {color.width}x{color.height} with K={list(color.k)}; {ALIGN_HINT}")

    @property
    def start_time_ns(self) -> int:
        """Bag time of the first message."""
        return int(self._reader.start_time)

    # ------------------------------------------------------------------ reading
    def calibration_for(self, stamp_ns: int) -> Tuple[Optional[CameraInfoFields], bool]:
        """``(calibration, static)``: the camera_info nearest ``stamp_ns`` within the slop, else the first one."""
        if not self._color_infos:
            return None, False
        stamp, calibration = min(self._color_infos, key=lambda item: abs(item[0] - stamp_ns))
        if abs(stamp - stamp_ns) <= self.slop_ns:
            return calibration, False
        return self._color_infos[0][1], True

    def events(self) -> Iterator[BagEvent]:
        """Frames and instructions in bag-time order (a frame after the depth that pairs with it had
        its chance to arrive). A damaged file ends the iteration early and sets ``truncated``."""
        connections = list(self._connections[self.color_topic])
        for topic in (self.depth_topic,):
            if topic is not None:
                connections += self._connections[topic]
        if self._instruction_connection is not None:
            connections += self._instruction_connection
        pending: Deque[_Pending] = collections.deque()
        depths: Deque[Tuple[int, object]] = collections.deque(maxlen=DEPTH_BUFFER)
        index, read = 0, 0
        messages = self._reader.messages(connections=connections)
        while True:
            try:
                connection, bag_time, raw = next(messages)
            except StopIteration:
                break
            except Exception as error:  # noqa: BLE001 - rosbags/sqlite raise several types on damaged files
                self.truncated = (f"bag {self.name}: reading stopped after {read} messages "
                                  f"({type(error).__name__}: {error}); the frames before it were replayed")
                break
            read += 1
            msg = self._deserialize(raw, connection.msgtype)
            if connection.topic == self.color_topic:
                pending.append(_Pending(bag_time, "color", msg, index))
                index += 1
            elif connection.topic == self.depth_topic:
                depths.append((stamp_ns_of(msg.header), msg))
            else:
                pending.append(_Pending(bag_time, "instruction", msg))
            while pending and pending[0].bag_time_ns + LOOKAHEAD_NS <= bag_time:
                yield self._release(pending.popleft(), depths)
        while pending:
            yield self._release(pending.popleft(), depths)

    def _release(self, item: _Pending, depths) -> BagEvent:
        if item.kind == "instruction":
            return BagInstruction(item.bag_time_ns, str(item.msg.data))
        return self._frame(item, depths)

    def _frame(self, item: _Pending, depths) -> BagFrame:
        msg = item.msg
        stamp = stamp_ns_of(msg.header)
        rgb = self._decode_color(msg)
        calibration, static = self.calibration_for(stamp)
        depth_msg = None
        if depths and calibration is not None:
            depth_stamp, depth_msg = min(depths, key=lambda entry: abs(entry[0] - stamp))
            if abs(depth_stamp - stamp) > self.slop_ns:
                depth_msg = None
        depth = None
        if depth_msg is not None:
            depth = self._decode_depth(depth_msg)
            self._check_depth(depth_msg, depth, msg, rgb)
        if calibration is not None and (calibration.width, calibration.height) != (rgb.shape[1], rgb.shape[0]):
            raise BagError(f"bag {self.name}: camera_info {self.topics.color_info} is for {calibration.width}x"
                           f"{calibration.height} images but {self.color_topic} is {rgb.shape[1]}x{rgb.shape[0]}")
        images = RgbdImages(rgb, depth, calibration if depth is not None else None, str(msg.header.frame_id), stamp,
                            stamp_ns_of(depth_msg.header) if depth_msg is not None else None)
        return BagFrame(item.index, item.bag_time_ns, images, static)

    def _decode_color(self, msg) -> np.ndarray:
        where = f"bag {self.name}: colour image on {self.color_topic}"
        try:
            if self.topic_types[self.color_topic] == COMPRESSED_IMAGE:
                return decode_compressed_color(msg.data, msg.format)
            return image_to_rgb(msg)
        except ValueError as error:
            raise BagError(f"{where}: {error}") from None

    def _decode_depth(self, msg) -> np.ndarray:
        try:
            if self.topic_types[self.depth_topic] == COMPRESSED_IMAGE:
                return decode_compressed_depth(msg.data, msg.format)
            return depth_to_numpy(msg)
        except ValueError as error:
            raise BagError(f"bag {self.name}: depth image on {self.depth_topic}: {error}") from None

    def _check_depth(self, depth_msg, depth: np.ndarray, color_msg, rgb: np.ndarray) -> None:
        if depth.shape != rgb.shape[:2]:
            raise BagError(f"bag {self.name}: depth on {self.depth_topic} is {depth.shape[1]}x{depth.shape[0]} but "
                           f"colour on {self.color_topic} is {rgb.shape[1]}x{rgb.shape[0]}: the depth is not "
                           f"registered to colour; {ALIGN_HINT}")
        depth_frame, color_frame = str(depth_msg.header.frame_id), str(color_msg.header.frame_id)
        if depth_frame and color_frame and depth_frame != color_frame:
            raise BagError(f"bag {self.name}: depth on {self.depth_topic} is in frame {depth_frame!r} but colour "
                           f"on {self.color_topic} in {color_frame!r}: the depth is not registered to colour; "
                           f"{ALIGN_HINT}")

    def close(self) -> None:
        reader, self._reader = getattr(self, "_reader", None), None
        if reader is not None:
            try:
                reader.close()
            except Exception:  # noqa: BLE001 - closing a damaged file must not hide the first error
                pass

    def __enter__(self) -> "BagRecording":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_frame_at(path: str | pathlib.Path, stamp_ns: int, topics: BagTopics = BagTopics(),
                  sync_slop: float = 0.05) -> RgbdImages:
    """The frame whose colour header stamp is ``stamp_ns`` (within 1 ms) from a recording."""
    with BagRecording(path, topics, sync_slop, instructions_from_topic=False) as bag:
        nearest = None
        for event in bag.events():
            gap = abs(event.images.stamp_ns - stamp_ns)
            if gap <= 1_000_000:
                return event.images
            nearest = gap if nearest is None else min(nearest, gap)
        where = f"; {bag.truncated}" if bag.truncated else ""
        raise BagError(f"bag {bag.name} has no colour image stamped {stamp_ns / 1e9:.9f} s on {bag.color_topic} "
                       f"(nearest is {nearest / 1e9 if nearest is not None else float('nan'):.3f} s away){where}")
