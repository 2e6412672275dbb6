"""The replay's readers without ROS: task-set manifests, recordings (rosbag2 and ROS 1, written here
with rosbags) with what real recordings do, annotation files, compressed images, part-name forms."""
import json

import cv2
import numpy as np
import pytest
import yaml

from bag_writing import (Record, camera_info_fields, compressed_color_fields, compressed_depth_fields, image_fields,
                         string_fields, write_bag)
from instructpart_ros.datasets.bag_annotations import load_bag_annotations
from instructpart_ros.datasets.compressed_images import decode_compressed_depth, encode_compressed_depth
from instructpart_ros.evaluation.dataset import DatasetError
from instructpart_ros.datasets.instruction_forms import parse_part_name
from instructpart_ros.datasets.rosbag_frames import BagError, BagFrame, BagInstruction, BagRecording, BagTopics
from instructpart_ros.datasets.tasksets import load_taskset
from instructpart_ros.evaluation.replay_config import recording_paths, taskset_path

TOPICS = BagTopics()
T0 = 1_700_000_000_000_000_000
MS = 1_000_000
K = [50.0, 0.0, 32.0, 0.0, 50.0, 24.0, 0.0, 0.0, 1.0]
RNG = np.random.default_rng(0)
RGB = [RNG.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(4)]
DEPTH = [np.full((48, 64), 400 + 10 * i, np.uint16) for i in range(4)]


# ---------------------------------------------------------------------------- task sets
def test_the_shipped_knife_task_set(data_root, monkeypatch):
    monkeypatch.setenv("INSTRUCTPART_DATA", str(data_root))
    taskset = load_taskset(taskset_path("shapegrasp_knife"))
    assert [(t.id, t.object, t.part, t.scene) for t in taskset.tasks] == [
        ("knife-cut_the_bread", "knife", "handle", "knives"), ("knife-cut_the_steak", "knife", "handle", "knives")]
    frame = taskset.frames["knife"]
    assert frame.color == data_root / "shapegrasp-knife" / "color.png" and frame.color.is_file()
    assert set(frame.objects["knife"]) == {"handle", "blade"}
    assert taskset.instruction("human", taskset.tasks[0]) == (
        "If I want to cut the bread, which part of the knife should I hold?")
    coverage = taskset.coverage()
    assert len(coverage) == 48 and sum(bool(row["covered_by"]) for row in coverage) == 2


def manifest(tmp_path, **changes):
    document = {"frames": [{"id": "f", "color": "c.png", "objects": {"mug": {"handle": "h.png", "body": "b.png"}}}],
                "tasks": [{"frame": "f", "task": "pick up the mug", "part": "handle"}]}
    document.update(changes)
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize("changes, message", [
    ({"root": "${NO_SUCH_VARIABLE}/x"}, "environment variable NO_SUCH_VARIABLE in '${NO_SUCH_VARIABLE}/x' is not set"),
    ({"tasks": [{"frame": "g", "task": "t", "part": "handle"}]}, "frame 'g' is not among the frames (f)"),
    ({"tasks": [{"frame": "f", "task": "t", "part": "lid"}]}, "part 'lid' of the mug has no mask on frame f "
                                                              "(parts: body, handle)"),
    ({"instructions": {"human": "grasp the {thing}"}}, "instruction variant 'human' uses ['thing']; templates"),
    ({"frames": [{"id": "f", "color": "c.png", "depth": "d.png", "objects": {"mug": {"handle": "h.png"}}}]},
     "depth and camera_info go together"),
    ({"frames": [{"id": "f", "bag": "run", "objects": {"mug": {"handle": "h.png"}}}]},
     "a bag frame needs stamp_ns: (integer nanoseconds) or stamp: (seconds), the colour image's header stamp"),
])
def test_manifest_mistakes_name_the_entry(tmp_path, changes, message):
    with pytest.raises(DatasetError) as error:
        load_taskset(manifest(tmp_path, **changes))
    assert message in str(error.value)


def test_a_part_contradicting_the_table_top_list_is_refused(tmp_path, tabletop_tasks_file):
    path = manifest(tmp_path, table_tasks=str(tabletop_tasks_file))
    assert load_taskset(path).tasks[0].scene == "mugs"
    path = manifest(tmp_path, table_tasks=str(tabletop_tasks_file),
                    tasks=[{"frame": "f", "task": "pick up the mug", "part": "body"}])
    with pytest.raises(DatasetError, match="part 'body' differs from the table-top list's 'handle'"):
        load_taskset(path)


# ---------------------------------------------------------------------------- recordings
def camera(count, *, depth_lag=30 * MS, info="static", compressed=False, depth_frame="camera_color_optical_frame"):
    records = []
    if info == "static":
        records.append(Record(TOPICS.color_info, "sensor_msgs/msg/CameraInfo", T0, camera_info_fields(64, 48, K, 0,
                                                                                                     frame_id="")))
    for i in range(count):
        stamp = T0 + i * 100 * MS
        if compressed:
            records.append(Record(TOPICS.color + "/compressed", "sensor_msgs/msg/CompressedImage", stamp + 5 * MS,
                                  compressed_color_fields(RGB[i], stamp)))
            records.append(Record(TOPICS.depth + "/compressedDepth", "sensor_msgs/msg/CompressedImage", stamp,
                                  compressed_depth_fields(DEPTH[i], stamp + depth_lag)))
        else:
            records.append(Record(TOPICS.color, "sensor_msgs/msg/Image", stamp + 5 * MS,
                                  image_fields(RGB[i], "rgb8", stamp)))
            records.append(Record(TOPICS.depth, "sensor_msgs/msg/Image", stamp,
                                  image_fields(DEPTH[i], "16UC1", stamp + depth_lag, depth_frame)))
        if info == "k_only":
            records.append(Record(TOPICS.color_info, "sensor_msgs/msg/CameraInfo", stamp + 6 * MS,
                                  camera_info_fields(64, 48, K, stamp, p=[0.0] * 12)))
    return records


def events(path, **kwargs):
    with BagRecording(path, TOPICS, 0.05, **kwargs) as bag:
        return list(bag.events()), bag


def frames_of(found):
    return [event for event in found if isinstance(event, BagFrame)]


@pytest.mark.parametrize("storage, name", [("sqlite3", "run"), ("mcap", "run"), ("ros1", "run.bag")])
def test_every_storage_gives_the_same_frames_and_instructions(tmp_path, storage, name):
    records = camera(3, info="k_only") + [Record(TOPICS.instruction, "std_msgs/msg/String", T0 + 150 * MS,
                                                 string_fields("handle of the mug"))]
    path = write_bag(tmp_path / name, records, storage if storage != "ros1" else "sqlite3")
    found, bag = events(path)
    assert [type(e).__name__ for e in found] == ["BagFrame", "BagFrame", "BagInstruction", "BagFrame"]
    assert found[2] == BagInstruction(T0 + 150 * MS, "handle of the mug")
    frames = frames_of(found)
    for index, frame in enumerate(frames):
        assert frame.index == index and frame.images.stamp_ns == T0 + index * 100 * MS
        np.testing.assert_array_equal(frame.images.rgb, RGB[index])
        np.testing.assert_array_equal(frame.images.depth, DEPTH[index])
        assert frame.images.depth_stamp_ns == frame.images.stamp_ns + 30 * MS
        assert frame.images.calibration.k == tuple(K) and not frame.images.calibration.has_projection
        assert not frame.camera_info_static and frame.images.frame_id == "camera_color_optical_frame"
    assert bag.color_count == 3 and bag.warnings == []


def test_compressed_colour_and_depth_found_from_the_raw_topic_names(tmp_path):
    path = write_bag(tmp_path / "run", camera(2, compressed=True), "mcap")
    found, bag = events(path)
    assert (bag.color_topic, bag.depth_topic) == (TOPICS.color + "/compressed", TOPICS.depth + "/compressedDepth")
    frame = frames_of(found)[1]
    np.testing.assert_array_equal(frame.images.rgb, RGB[1])  # PNG-compressed: exact
    np.testing.assert_array_equal(frame.images.depth, DEPTH[1])
    assert frame.camera_info_static  # published once, stamped 0, no frame_id: used for every frame


def test_depth_is_paired_by_header_stamp_not_by_arrival(tmp_path):
    # frame 1's own depth arrives (bag time) before frame 0's colour; a depth stamped 80 ms off arrives with it
    records = camera(2, depth_lag=20 * MS)
    records.append(Record(TOPICS.depth, "sensor_msgs/msg/Image", T0 + 104 * MS,
                          image_fields(DEPTH[3], "16UC1", T0 + 180 * MS)))
    for record in records:
        if record.topic == TOPICS.depth and record.fields["header"]["stamp_ns"] == T0 + 120 * MS:
            record.bag_time_ns = T0 - 50 * MS
    found, _ = events(write_bag(tmp_path / "run", records))
    frames = frames_of(found)
    assert [f.images.depth_stamp_ns - f.images.stamp_ns for f in frames] == [20 * MS, 20 * MS]
    np.testing.assert_array_equal(frames[1].images.depth, DEPTH[1])


def test_vendor_topics_of_unregistered_types_are_skipped(tmp_path):
    vendor = {"vendor_msgs/msg/Blob": "uint8[] data\nstring note\n"}
    records = camera(2) + [Record(f"/camera/vendor/{i}", "vendor_msgs/msg/Blob", T0 + i, {"data": np.zeros(3, np.uint8),
                                                                                          "note": "x"})
                           for i in range(24)]
    found, bag = events(write_bag(tmp_path / "run", records, "mcap", extra_types=vendor))
    assert len(frames_of(found)) == 2 and len(bag.skipped_topics) == 24
    assert set(bag.skipped_topics.values()) == {"vendor_msgs/msg/Blob"}


def test_without_camera_info_frames_are_2d_only_and_a_warning_says_why(tmp_path):
    records = [r for r in camera(2) if r.topic != TOPICS.color_info]
    found, bag = events(write_bag(tmp_path / "run", records))
    assert all(not frame.images.has_depth for frame in frames_of(found))
    assert bag.warnings == [f"bag run: no sensor_msgs/msg/CameraInfo on {TOPICS.color_info}: frames are replayed "
                            "2D only (record the colour camera_info for part points)"]


def test_unregistered_depth_is_an_error_naming_both_topics_and_the_driver_option(tmp_path):
    records = camera(1) + [Record(TOPICS.depth_info, "sensor_msgs/msg/CameraInfo", T0,
                                  camera_info_fields(64, 48, [45.0, 0, 30, 0, 45.0, 22, 0, 0, 1], T0))]
    with pytest.raises(BagError) as error:
        BagRecording(write_bag(tmp_path / "run", records), TOPICS)
    message = str(error.value)
    assert f"depth on {TOPICS.depth} is not registered to colour" in message
    assert f"its camera_info {TOPICS.depth_info} is 64x48 with K=[45.0" in message
    assert f"the colour's {TOPICS.color_info} is 64x48 with K=[50.0" in message and "align_depth.enable:=true" in message
    # no depth camera_info recorded, but the depth image is in another frame: refused too, never paired as aligned
    with pytest.raises(BagError, match="depth on .* is in frame 'camera_depth_optical_frame' but colour .* in "
                                       "'camera_color_optical_frame': the depth is not registered to colour"):
        events(write_bag(tmp_path / "other", camera(1, depth_frame="camera_depth_optical_frame")))


def test_truncated_and_missing_recordings_are_errors_naming_them(tmp_path):
    path = write_bag(tmp_path / "run", camera(4), "mcap")
    data_file = path / "run.mcap"
    data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size * 2 // 3])
    with pytest.raises(BagError, match=f"bag {path} cannot be opened .* damaged or truncated .* mcap recover"):
        BagRecording(path, TOPICS)
    with pytest.raises(BagError, match="bag .*nothing does not exist"):
        BagRecording(tmp_path / "nothing", TOPICS)
    no_colour = write_bag(tmp_path / "mono", [Record("/left/image", "sensor_msgs/msg/Image", T0,
                                                     image_fields(RGB[0], "rgb8", T0))])
    with pytest.raises(BagError, match=f"bag mono has no color images on {TOPICS.color} .*; its image topics are "
                                       "/left/image: pass the right --color-topic"):
        BagRecording(no_colour, TOPICS)


def test_a_folder_of_recordings(tmp_path):
    write_bag(tmp_path / "a", camera(1))
    write_bag(tmp_path / "b.bag", camera(1))
    (tmp_path / "notes.txt").write_text("x")
    assert recording_paths(tmp_path) == [tmp_path / "a", tmp_path / "b.bag"]
    assert recording_paths(tmp_path / "a") == [tmp_path / "a"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty is neither a rosbag2 directory"):
        recording_paths(tmp_path / "empty")
    with pytest.raises(ValueError, match="recording .*missing does not exist: pass a rosbag2 directory"):
        recording_paths(tmp_path / "missing")


def test_annotation_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({
        "instructions": [{"time": 1.5, "instruction": "cut the bread", "object": "knife", "part": "handle"},
                         {"time": 0.0, "instruction": "blade of the knife"}],
        "masks": [{"stamp": 1700000000.1, "object": "knife", "parts": {"handle": "m/h.png"}}]}))
    annotations = load_bag_annotations(path, T0)
    assert [(i.bag_time_ns - T0, i.text, i.part) for i in annotations.instructions] == [
        (0, "blade of the knife", ""), (1_500_000_000, "cut the bread", "handle")]
    assert annotations.masks_for(T0 + 100 * MS).parts == {"handle": tmp_path / "m" / "h.png"}
    assert annotations.masks_for(T0 + 100 * MS + 900_000) is not None and annotations.masks_for(T0) is None
    path.write_text(yaml.safe_dump({"masks": [{"object": "knife", "parts": {"handle": "h.png"}}]}))
    with pytest.raises(DatasetError, match="masks entry 0 needs stamp_ns: .* or stamp: .*, the colour image's"):
        load_bag_annotations(path, T0)


def test_compressed_depth_round_trip():
    millimetres = np.arange(48 * 64, dtype=np.uint16).reshape(48, 64)
    data, image_format = encode_compressed_depth(millimetres)
    assert image_format == "16UC1; compressedDepth png"
    np.testing.assert_array_equal(decode_compressed_depth(data, image_format), millimetres)
    metres = np.linspace(0.3, 4.0, 48 * 64, dtype=np.float32).reshape(48, 64)
    metres[0, :5] = np.nan
    data, image_format = encode_compressed_depth(metres)
    decoded = decode_compressed_depth(data, image_format)
    assert np.isnan(decoded[0, :5]).all()
    np.testing.assert_allclose(decoded[1:], metres[1:], rtol=2e-3)  # quantised inverse depth: under 1.6 mm at 4 m
    with pytest.raises(ValueError, match="uses RVL, which is not supported: record with the png format"):
        decode_compressed_depth(data, "16UC1; compressedDepth rvl")


def test_part_name_forms_of_the_real_samples(instructpart_root):
    entries = json.loads((instructpart_root / "test" / "data_test.json").read_text())
    for entry in entries:
        for part in entry["part_list"]:
            parsed = [parse_part_name(text) for text in part["instruction"]]
            assert parsed == [None, None] + [(part["object"], part["part"])] * 4, part["instruction"]
    assert parse_part_name("pick up the handle of the mug") is None
    assert parse_part_name("  handle   of the  knife ") == ("knife", "handle")


# ---------------------------------------------------------------------------- recordings through the runner
class EchoStream:
    """A stand-in for the node on its topics: answers each frame with its left quarter, at once."""

    def __init__(self):
        self.instructions, self.frames = [], []

    def send_instruction(self, text):
        self.instructions.append(text)

    def send_frame(self, images):
        self.frames.append(images)

    def wait_result(self, stamp_ns, instruction, timeout):
        from instructpart_ros.evaluation.replay_scoring import NodeAnswer

        images = next(f for f in reversed(self.frames) if f.stamp_ns == stamp_ns)
        mask = np.zeros(images.rgb.shape[:2], bool)
        mask[:, :16] = True
        return NodeAnswer(mask=mask, status="ok", stamp_ns=stamp_ns, instruction=instruction)

    def drain(self):
        return []

    def failure(self):
        return None


def test_a_damaged_recording_in_a_folder_is_reported_by_name_and_the_others_play(tmp_path):
    from instructpart_ros.evaluation.replay_config import ReplayConfig, run_replay

    folder = tmp_path / "recordings"
    folder.mkdir()
    instruction = [Record(TOPICS.instruction, "std_msgs/msg/String", T0, string_fields("handle of the mug"))]
    write_bag(folder / "a_good", camera(3) + instruction, "mcap")
    damaged = write_bag(folder / "b_damaged.bag", camera(3) + instruction)
    damaged.write_bytes(damaged.read_bytes()[:2000])
    stream = EchoStream()
    config = ReplayConfig(source="bag", dataset=folder, out=tmp_path / "out", progress=False)
    metrics = run_replay(config, {"kind": "echo", "mode": "generate"}, stream=stream)
    assert [f.stamp_ns for f in stream.frames] == [T0 + i * 100 * MS for i in range(3)]
    assert stream.instructions == ["handle of the mug"]
    assert metrics["timing"]["answered"] == 3
    (bad,) = metrics["bad_entries"]
    assert bad["reason"].startswith(f"bag {damaged} cannot be opened") and "rosbag reindex" in bad["reason"]
    assert metrics["output_bag"]["messages"]["result"] == 0  # the echo sends no serialised results
    assert metrics["output_bag"]["messages"]["color"] == 3


def test_a_task_set_frame_read_from_a_recording_at_its_stamp(tmp_path):
    from instructpart_ros.evaluation.replay_items import load_replay_taskset, taskset_items

    write_bag(tmp_path / "table", camera(3), "sqlite3")
    mask = np.zeros((48, 64), np.uint8)
    mask[:, :16] = 255
    cv2.imwrite(str(tmp_path / "handle.png"), mask)
    manifest = tmp_path / "set.yaml"
    manifest.write_text(yaml.safe_dump({
        "frames": [{"id": "shelf", "bag": "table", "stamp": (T0 + 200 * MS) / 1e9,
                    "objects": {"mug": {"handle": "handle.png"}}}],
        "tasks": [{"frame": "shelf", "task": "pick up the mug", "part": "handle"}]}))
    (item,) = taskset_items(load_replay_taskset(manifest), ["op"], tmp_path / "frames")
    images = item.load_images()
    assert images.stamp_ns == T0 + 200 * MS
    np.testing.assert_array_equal(images.rgb, RGB[2])
    np.testing.assert_array_equal(images.depth, DEPTH[2])
    assert item.instruction == "handle of the mug" and item.sample.image_path == tmp_path / "frames" / "shelf.png"
    np.testing.assert_array_equal(cv2.cvtColor(cv2.imread(str(item.sample.image_path)), cv2.COLOR_BGR2RGB), RGB[2])
