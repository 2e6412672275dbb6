"""Recordings written here with ``rosbags`` (sqlite3 and MCAP; raw and compressed images) replayed
through a live perception node (its own process, real DDS, stub model): every frame accounted
for in lockstep, drops counted in realtime, the output MCAP read back with ``rosbags``."""

import cv2
import numpy as np
import pytest
import yaml
from rosbags.highlevel import AnyReader

from bag_writing import (Record, camera_info_fields, compressed_color_fields, compressed_depth_fields, image_fields,
                         string_fields, write_bag)
from instructpart_ros.cli import main
from instructpart_ros.datasets.replay_bag import PART_SEGMENTATION, replay_typestore
from instructpart_ros.datasets.rgbd_images import load_rgbd_files
from instructpart_ros.datasets.rosbag_frames import BagTopics
from instructpart_ros.ros.node_process import NodeProcess
from replay_support import STUB_PARAMETERS, metrics_of, read_log, replay_domain, stub_prelude

TOPICS = BagTopics()
T0 = 1_700_000_000_000_000_000
PERIOD = 100_000_000  # 10 Hz
DEPTH_LAG = 30_000_000  # depth stamped 30 ms after its colour image
HANDLE, BLADE = "handle of the knife", "blade of the knife"
BREAD = "If I want to cut the bread, which part of the knife should I hold?"
SCALE = 4  # the real knife frame, 1280x800 -> 320x200
VENDOR_TYPES = {"realsense2_camera_msgs/msg/Metadata": "std_msgs/Header header\nstring json_data\n",
                "realsense2_camera_msgs/msg/Extrinsics": "float64[9] rotation\nfloat32[3] translation\n"}


@pytest.fixture(scope="module")
def small_knife(knife_dir, tmp_path_factory):
    """The knife frame at 320x200 (nearest-neighbour depth and masks), masks as files."""
    folder = tmp_path_factory.mktemp("small_knife")
    frame = load_rgbd_files(knife_dir / "color.png", knife_dir / "depth_mm.png", knife_dir / "camera_info.yaml")
    size = (1280 // SCALE, 800 // SCALE)
    rgb = cv2.resize(frame.rgb, size, interpolation=cv2.INTER_AREA)
    depth = cv2.resize(frame.depth, size, interpolation=cv2.INTER_NEAREST)
    masks = {}
    for part in ("handle", "blade"):
        mask = cv2.imread(str(knife_dir / f"mask_knife_{part}.png"), cv2.IMREAD_GRAYSCALE)
        masks[part] = folder / f"{part}.png"
        cv2.imwrite(str(masks[part]), cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST) * 255)
    k = [v / SCALE for v in frame.calibration.k[:6]] + [0.0, 0.0, 1.0]
    return {"rgb": rgb, "depth": depth, "masks": masks, "k": k, "size": size}


@pytest.fixture(scope="module")
def node(small_knife, tmp_path_factory):
    masks = small_knife["masks"]
    delay_file = tmp_path_factory.mktemp("delay") / "seconds"
    choices = {HANDLE: [masks["handle"]], BLADE: [masks["blade"]], BREAD: [masks["handle"]]}
    parameters = dict(STUB_PARAMETERS, sync_slop=0.05, input_reliability="reliable", max_depth=1.0, erode_px=0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ROS_DOMAIN_ID", replay_domain(0))
        patch.setenv("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
        with NodeProcess(parameters, python_prelude=stub_prelude(choices, delay_file=delay_file)) as process:
            process.delay_file = delay_file
            yield process
            assert process.alive(), process.log_text()


def frame_records(knife, count, compressed=False, info="static", start=T0):
    """Colour, depth and camera_info records of ``count`` frames, as a RealSense driver records them."""
    width, height = knife["size"]
    records = []
    if info == "static":  # published once, stamped 0, no frame_id: the driver's latched message
        records.append(Record(TOPICS.color_info, "sensor_msgs/msg/CameraInfo", start,
                              camera_info_fields(width, height, knife["k"], 0, frame_id="")))
    for index in range(count):
        stamp = start + index * PERIOD
        if compressed:
            records.append(Record(TOPICS.color + "/compressed", "sensor_msgs/msg/CompressedImage", stamp + 9_000_000,
                                  compressed_color_fields(knife["rgb"], stamp)))
            records.append(Record(TOPICS.depth + "/compressedDepth", "sensor_msgs/msg/CompressedImage",
                                  stamp + 2_000_000, compressed_depth_fields(knife["depth"], stamp + DEPTH_LAG)))
        else:
            records.append(Record(TOPICS.color, "sensor_msgs/msg/Image", stamp + 9_000_000,
                                  image_fields(knife["rgb"], "rgb8", stamp)))
            records.append(Record(TOPICS.depth, "sensor_msgs/msg/Image", stamp + 2_000_000,
                                  image_fields(knife["depth"], "16UC1", stamp + DEPTH_LAG)))
        if info == "k_only":  # stamped with each frame, P all zero
            records.append(Record(TOPICS.color_info, "sensor_msgs/msg/CameraInfo", stamp + 9_500_000,
                                  camera_info_fields(width, height, knife["k"], stamp, p=[0.0] * 12)))
    return records


def vendor_records(count):
    return [Record("/camera/camera/metadata", "realsense2_camera_msgs/msg/Metadata", T0 + i * PERIOD + 1,
                   {"header": {"stamp_ns": T0 + i * PERIOD, "frame_id": "x"}, "json_data": "{}"})
            for i in range(count)] + [
        Record("/camera/camera/extrinsics/depth_to_color", "realsense2_camera_msgs/msg/Extrinsics", T0,
               {"rotation": np.eye(3).reshape(-1), "translation": np.zeros(3, np.float32)})]


def replay(bag, out, *extra):
    return main(["replay", "--source", "bag", "--dataset", str(bag), "--out", str(out), "--use-running-node",
                 "--timeout", "10", "--no-progress", *extra])


def read_output_bag(out):
    """Topic -> messages of OUT/replay_bag, read with rosbags."""
    store = replay_typestore()
    messages = {}
    with AnyReader([out / "replay_bag"], default_typestore=store) as reader:
        for connection, _, raw in reader.messages():
            messages.setdefault(connection.topic, []).append(store.deserialize_cdr(raw, connection.msgtype))
    return messages


def test_lockstep_sqlite3_raw_images_topic_instructions_every_frame_answered(node, small_knife, tmp_path):
    records = frame_records(small_knife, 6) + vendor_records(6) + [
        Record(TOPICS.instruction, "std_msgs/msg/String", T0, string_fields(HANDLE)),
        Record(TOPICS.instruction, "std_msgs/msg/String", T0 + 3 * PERIOD, string_fields(BLADE))]
    bag = write_bag(tmp_path / "table_run", records, "sqlite3", extra_types=VENDOR_TYPES)
    out = tmp_path / "out"
    assert replay(bag, out) == 0
    log = read_log(out)
    assert [r["id"] for r in log] == [f"table_run-{i:06d}" for i in range(6)]
    assert [r["outcome"] for r in log] == ["answered"] * 6
    assert [r["instruction"] for r in log] == [HANDLE] * 3 + [BLADE] * 3
    # depth 30 ms after colour was paired (3D: points), intrinsics from the one static camera_info
    assert all(r["status"] == "ok" and r["num_points"] > 0 and r["camera_info_static"] for r in log)
    assert [(r["object_name"], r["part_name"]) for r in log] == [("knife", "handle")] * 3 + [("knife", "blade")] * 3
    handle_pixels = int((cv2.imread(str(small_knife["masks"]["handle"]), 0) > 0).sum())
    assert log[0]["mask_pixels"] == handle_pixels
    metrics = metrics_of(out)
    assert metrics["timing"] == {"mode": "lockstep", "rate": 1.0, "frames": 6, "answered": 6, "dropped": 0,
                                 "failed": 0, "no_instruction": 0, "drop_rate": 0.0}
    assert set(metrics["bags"][0]["skipped_topics"]) == {"/camera/camera/metadata",
                                                        "/camera/camera/extrinsics/depth_to_color"}
    assert metrics["part_selection"]["n"] == 0  # no ground truth on a topic-only recording
    output = read_output_bag(out)
    assert len(output["/part_segmentation"]) == len(output["/color/image"]) == len(output["/depth/image"]) == 6
    assert len(output["/part_mask"]) == len(output["/part_points"]) == 6 and len(output["/instruction"]) == 2
    results = output["/part_segmentation"]
    assert [r.instruction for r in results] == [HANDLE] * 3 + [BLADE] * 3
    assert [r.header.stamp.sec * 10**9 + r.header.stamp.nanosec for r in results] == [
        T0 + i * PERIOD for i in range(6)]
    assert results[0].__msgtype__ == PART_SEGMENTATION and results[0].num_points == log[0]["num_points"]


def test_lockstep_mcap_compressed_with_annotation_file_scores_the_annotated_frames(node, small_knife, tmp_path):
    records = frame_records(small_knife, 4, compressed=True, info="k_only") + [
        Record(TOPICS.instruction, "std_msgs/msg/String", T0, string_fields(BLADE))]  # replaced by the file's
    bag = write_bag(tmp_path / "compressed_run", records, "mcap")
    masks = small_knife["masks"]
    annotations = tmp_path / "compressed_run.yaml"
    annotations.write_text(yaml.safe_dump({
        "instructions": [{"time": 0.0, "instruction": BREAD, "object": "knife", "part": "handle"}],
        "masks": [{"stamp_ns": T0 + i * PERIOD, "object": "knife",
                   "parts": {"handle": str(masks["handle"]), "blade": str(masks["blade"])}} for i in (1, 3)]}))
    out = tmp_path / "out"
    assert replay(bag.parent / "compressed_run" / "compressed_run.mcap", out, "--annotations", str(annotations)) == 0
    log = read_log(out)
    assert [r["outcome"] for r in log] == ["answered"] * 4 and {r["instruction"] for r in log} == {BREAD}
    assert all(r["status"] == "ok" and not r["camera_info_static"] for r in log)  # K only, stamped per frame
    scored = [r["id"] for r in log if r.get("iou")]
    assert scored == ["compressed_run-000001", "compressed_run-000003"]
    metrics = metrics_of(out)
    section = metrics["variants"]["recording"]
    assert section["n"] == 2 and section["giou"] == 100.0  # the stub returns the annotated handle
    assert metrics["part_selection"]["correct"] == 2 and metrics["part_selection"]["anchor_hits"] == 2
    assert len(read_output_bag(out)["/part_segmentation"]) == 4


def test_realtime_counts_the_frames_a_slow_model_drops(node, small_knife, tmp_path):
    records = frame_records(small_knife, 10) + [Record(TOPICS.instruction, "std_msgs/msg/String", T0 - 1,
                                                       string_fields(HANDLE))]
    bag = write_bag(tmp_path / "fast_camera", records, "sqlite3")
    node.delay_file.write_text("0.35")  # the model takes 0.35 s: slower than the 10 Hz recording
    try:
        out = tmp_path / "out"
        assert replay(bag, out, "--timing", "realtime", "--no-output-bag") == 0
    finally:
        node.delay_file.write_text("0")
    log = read_log(out)
    outcomes = [r["outcome"] for r in log]
    assert len(log) == 10 and set(outcomes) <= {"answered", "dropped"}
    timing = metrics_of(out)["timing"]
    assert timing["answered"] + timing["dropped"] == 10
    assert timing["dropped"] >= 4 and timing["answered"] >= 1
    assert timing["drop_rate"] == pytest.approx(10.0 * timing["dropped"])
    assert not (out / "replay_bag").exists()


def test_depth_not_registered_to_colour_is_refused_naming_both_and_the_driver_option(node, small_knife, tmp_path,
                                                                                   capsys):
    width, height = small_knife["size"]
    depth_k = [v * 0.9 for v in small_knife["k"][:8]] + [1.0]
    records = frame_records(small_knife, 2) + [
        Record(TOPICS.depth_info, "sensor_msgs/msg/CameraInfo", T0, camera_info_fields(width, height, depth_k, T0))]
    bag = write_bag(tmp_path / "unaligned", records, "sqlite3")
    assert replay(bag, tmp_path / "out") == 2
    error = capsys.readouterr().err
    assert f"depth on {TOPICS.depth} is not registered to colour" in error
    assert TOPICS.depth_info in error and TOPICS.color_info in error and "align_depth.enable:=true" in error
