"""``instructpart synth``: scenes, files on disk, instructions, depth, and the readers."""
import hashlib
import itertools
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from instructpart_ros.cli import main
from instructpart_ros.datasets import synthetic_split
from instructpart_ros.datasets import (OBJECT_NAMES, PART_SEMANTICS, SceneConfig,
                                       depth_path, read_camera_info, read_depth, render_scene,
                                       write_split)
from instructpart_ros.datasets.synthetic_instructions import SLOT_WORDS, names_part, template_slots
from instructpart_ros.datasets.synthetic_textures import to_lab
from instructpart_ros.evaluation.dataset import INSTRUCTION_NAMES, load_split, read_rgb
from instructpart_ros.geometry import backproject

TRAIN_SEED, TEST_SEED = 3, 4


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_split(root, "train", n=10, seed=TRAIN_SEED, progress=False)
    write_split(root, "test", n=10, seed=TEST_SEED, progress=False)
    return root


@pytest.fixture(scope="module")
def scenes():
    """Four scenes of every object."""
    return [render_scene(11, index) for index in range(4 * len(OBJECT_NAMES))]


def _digest(array: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest()


def test_same_seed_same_scene_other_seed_other_scenes():
    first, again = render_scene(5, 3), render_scene(5, 3)
    assert np.array_equal(first.rgb, again.rgb)
    assert np.array_equal(first.depth_mm, again.depth_mm)
    assert all(np.array_equal(first.parts[p], again.parts[p]) for p in first.parts)
    assert first.annotations == again.annotations
    assert first.stem == "synth5_00003"
    seed5 = {_digest(render_scene(5, i).rgb) for i in range(15)}
    seed6 = {_digest(render_scene(6, i).rgb) for i in range(15)}
    assert len(seed5) == len(seed6) == 15
    assert seed5.isdisjoint(seed6)


def test_writing_a_seed_twice_gives_identical_files(tmp_path, monkeypatch):
    """Also with two rendering processes instead of one."""
    monkeypatch.setattr(synthetic_split, "PARALLEL_FROM", 1)
    for name, workers in (("a", 1), ("b", 2)):
        write_split(tmp_path / name, "train", n=5, seed=7, workers=workers, progress=False)

    def tree(root):
        return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    a, b = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert list(a) == list(b) and len(a) > 20
    assert all(a[name] == b[name] for name in a)


def test_load_split_reads_both_splits(synth_root):
    train, test = load_split(synth_root, "train"), load_split(synth_root, "test")
    # 2 scenes of each object: knife 2 parts, mug 2, kettle 3, screwdriver 2, spoon 2.
    assert len(train) == len(test) == 2 * 11
    assert all(s.id.startswith(f"synth{TRAIN_SEED}_") for s in train)
    assert {s.object_part for s in test} == {f"{o}/{p}" for o, p in PART_SEMANTICS}
    for sample in train + test:
        with Image.open(sample.mask_path) as mask_file:
            assert mask_file.mode == "L"
            mask = np.asarray(mask_file)
        assert set(np.unique(mask)) == {0, 1}
        assert mask.shape == read_rgb(sample).shape[:2] == (240, 320)
        assert sample.image_path.name == f"{sample.id}.jpg"
    info = json.loads((synth_root / "train" / "synth_info.json").read_text())
    assert (info["seed"], info["scenes"], info["samples"]) == (TRAIN_SEED, 10, 22)
    entries = json.loads((synth_root / "test" / "data_test.json").read_text())
    assert entries[0]["image_path"] == f"synth{TEST_SEED}_00000.jpg"
    assert [p["part"] for p in entries[0]["part_list"]] == ["handle", "blade"]


def test_parts_are_disjoint_thick_and_inside_the_image(scenes):
    for scene in scenes:
        masks = list(scene.parts.values())
        assert len(masks) in (2, 3)
        for a, b in itertools.combinations(masks, 2):
            assert not (a & b).any(), scene.stem
        union = np.any(masks, axis=0)
        assert not (union[0].any() or union[-1].any() or union[:, 0].any() or union[:, -1].any())
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (19, 19))
        for name, mask in scene.parts.items():
            where = f"{scene.stem} {scene.object_name} {name}"
            count, _ = cv2.connectedComponents(mask.astype(np.uint8))
            assert count == 2, f"{where} is in {count - 1} pieces"
            thickness = 2 * cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5).max()
            assert thickness >= 20, f"{where} is only {thickness:.1f} px thick"
            opened = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, disc)
            assert opened.sum() >= 0.8 * mask.sum(), f"{where}: much of it is under 19 px thick"


def test_parts_contrast_with_each_other_and_the_table(scenes):
    kernel = np.ones((5, 5), np.uint8)
    for scene in scenes:
        union = np.any(list(scene.parts.values()), axis=0).astype(np.uint8)
        ring = cv2.dilate(union, kernel, iterations=3) & ~cv2.dilate(union, kernel) & 1
        table = to_lab([scene.rgb[ring > 0].mean(axis=0)])[0]
        inner = {name: cv2.erode(m.astype(np.uint8), kernel) > 0 for name, m in scene.parts.items()}
        means = {name: to_lab([scene.rgb[m].mean(axis=0)])[0] for name, m in inner.items()}
        for name, lab in means.items():
            assert np.linalg.norm(lab - table) >= 20, f"{scene.stem} {name} blends into the table"
        for (a, la), (b, lb) in itertools.combinations(means.items(), 2):
            assert np.linalg.norm(la - lb) >= 30, f"{scene.stem}: {a} and {b} look alike"


def test_depth_is_millimetres_and_parts_stand_on_the_table(scenes):
    for scene in scenes:
        depth = scene.depth_mm
        assert depth.dtype == np.uint16 and depth.shape == (240, 320)
        valid = depth > 0
        assert 0.8 < valid.mean() < 1.0, "a few invalid pixels, like a real depth camera"
        union = np.any(list(scene.parts.values()), axis=0)
        away = ~cv2.dilate(union.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
        table = np.median(depth[valid & away])
        assert 500 - 15 <= table <= 800 + 15
        assert abs(table - scene.table_depth_mm) < 15
        # The table is a plane, tilted a little: fit it, then measure parts against it.
        ys, xs = np.nonzero(valid & away)
        plane, *_ = np.linalg.lstsq(np.stack([xs, ys, np.ones_like(xs)], 1).astype(float),
                                    depth[ys, xs].astype(float), rcond=None)
        residual = depth[ys, xs] - np.stack([xs, ys, np.ones_like(xs)], 1) @ plane
        assert 0.3 < np.std(residual) < 3.0, "millimetre noise, as from a depth camera"
        for name, mask in scene.parts.items():
            ys, xs = np.nonzero(mask & valid)
            assert len(ys) > 0.9 * mask.sum()
            under = np.stack([xs, ys, np.ones_like(xs)], 1) @ plane
            raised = np.median(under - depth[ys, xs])
            assert 3 <= raised <= 200, f"{scene.stem} {name} is {raised:.1f} mm above the table"
        # The back-projected table lies at the table's distance, straight ahead of the camera.
        points = backproject(depth, scene.intrinsics, away)
        assert np.median(points[:, 2]) == pytest.approx(table / 1000.0, abs=0.002)


def test_knife_handle_stands_higher_than_its_blade(scenes):
    for scene in (s for s in scenes if s.object_name == "knife"):
        valid = scene.depth_mm > 0
        handle = np.median(scene.depth_mm[scene.parts["handle"] & valid])
        blade = np.median(scene.depth_mm[scene.parts["blade"] & valid])
        assert handle < blade - 5


def test_split_depth_and_camera_info_read_back(synth_root):
    sample = load_split(synth_root, "test")[0]
    depth = read_depth(sample)
    assert depth_path(sample) == synth_root / "test" / "depth" / f"{sample.id}.png"
    calibration = read_camera_info(sample)
    assert (calibration.width, calibration.height) == (320, 240)
    assert calibration.intrinsics == SceneConfig().intrinsics
    assert calibration.intrinsics.cx == 159.5 and calibration.intrinsics.cy == 119.5
    assert 2 * np.degrees(np.arctan(160 / calibration.intrinsics.fx)) == pytest.approx(45.0)
    scene = render_scene(TEST_SEED, 0)
    assert np.array_equal(depth, scene.depth_mm)   # PNG is lossless
    mask = np.asarray(Image.open(sample.mask_path)) > 0
    assert np.array_equal(mask, scene.parts[sample.part])
    jpeg = read_rgb(sample).astype(np.int16)
    assert np.abs(jpeg - scene.rgb).mean() < 3   # quality 95


def test_rgbd_frame_of_a_sample_plays_to_the_node(synth_root):
    """The ROS side reads a synth sample as an RGB-D frame, camera_info included."""
    from instructpart_ros.ros.rgbd_frame import load_rgbd_frame

    sample = load_split(synth_root, "test")[0]
    frame = load_rgbd_frame(sample.image_path, depth_path(sample),
                            synth_root / "test" / "camera_info.yaml")
    assert frame.rgb.shape == (240, 320, 3)
    assert (frame.camera_info.width, frame.camera_info.height) == (320, 240)
    assert list(frame.camera_info.p)[:3] == pytest.approx([SceneConfig().intrinsics.fx, 0, 159.5])
    assert np.array_equal(frame.depth_mm, read_depth(sample))


def test_depth_reader_errors(instructpart_root, tmp_path):
    real = load_split(instructpart_root, "test")[0]
    with pytest.raises(ValueError, match=f"sample {real.id}: no depth image .*has no depth"):
        read_depth(real)
    with pytest.raises(ValueError, match="camera_info.yaml does not exist"):
        read_camera_info(real)
    bad = tmp_path / "camera_info.yaml"
    bad.write_text("image_width: 10\n")
    with pytest.raises(ValueError, match="not a camera_info YAML"):
        read_camera_info(bad)


def test_six_instructions_in_the_dataset_pattern(synth_root):
    for sample in load_split(synth_root, "train") + load_split(synth_root, "test"):
        text = sample.instructions
        assert list(text) == list(INSTRUCTION_NAMES)
        part, obj = sample.part, sample.object
        assert text["op_sentence"] == f"Where is the {part} of the {obj} in this image?"
        assert text["op"] == f"{part} of the {obj}"
        assert text["opa"].startswith(f"{part} of the {obj} that can ")
        assert text["opa_sentence"] == f"Where is the {text['opa']} in this image?"
        assert text["human"] != text["gpt"]
        for name in ("human", "gpt"):
            assert not names_part(text[name], part), text[name]
            assert "{" not in text[name]


def test_no_task_template_names_its_part():
    for (obj, part), semantics in PART_SEMANTICS.items():
        assert len(semantics.tasks) >= 3 and len(semantics.rewrites) >= 3
        for template in semantics.tasks + semantics.rewrites:
            slots = template_slots(template)
            assert all(slot in SLOT_WORDS.get(obj, {}) for slot in slots), template
            for words in itertools.product(*(SLOT_WORDS[obj][slot] for slot in slots)):
                text = template.format(**dict(zip(slots, words)))
                assert not names_part(text, part), f"{obj}/{part}: {text}"
    assert names_part("Grip the Handle.", "handle") and not names_part("handled", "handle")


def test_one_image_asks_for_each_of_its_parts_in_varied_words(scenes):
    kettles = [s for s in scenes if s.object_name == "kettle"]
    for scene in kettles:
        tasks = [a.instructions[0] for a in scene.annotations.values()]
        assert len(set(tasks)) == 3
    wordings = {render_scene(0, i).annotations["handle"].instructions[0]
                for i in range(0, 60, len(OBJECT_NAMES))}   # twelve knives
    assert len(wordings) >= 4


def test_cli_writes_refuses_and_overwrites(tmp_path, capsys):
    out = tmp_path / "synth"
    args = ["synth", "--out", str(out), "--split", "test", "--n", "3", "--seed", "9",
            "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"wrote 3 scenes (7 samples) to {out / 'test'}" in printed
    assert sorted(p.name for p in (out / "test").iterdir()) == [
        "camera_info.yaml", "data_test.json", "depth", "images", "masks", "synth_info.json"]
    assert len(list((out / "test" / "images").iterdir())) == 7
    assert [p.name for p in out.iterdir()] == ["test"], "no staging folder left behind"

    assert main(args) == 2
    assert capsys.readouterr().err.strip() == (
        f"instructpart synth: error: {out / 'test'} already exists and is not empty: pass "
        "--overwrite to replace it, or choose another --out")
    assert main(["synth", "--out", str(out), "--split", "test", "--n", "2", "--seed", "9",
                 "--overwrite", "--no-progress"]) == 0
    assert len(load_split(out, "test")) == 4

    foreign = tmp_path / "real" / "train"
    foreign.mkdir(parents=True)
    (foreign / "keep.txt").write_text("precious")
    assert main(["synth", "--out", str(tmp_path / "real"), "--split", "train", "--n", "1",
                 "--seed", "1", "--overwrite", "--no-progress"]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (foreign / "keep.txt").read_text() == "precious"


@pytest.mark.parametrize("extra, message", [
    (["--height", "200"], "scene size 320x200 is too small: the short side must be at least 224"),
    (["--objects", "knife,fork"], "unknown objects ['fork']: choose from knife, mug, kettle"),
    (["--n", "0"], "the number of scenes must be a positive integer, got 0"),
])
def test_cli_bad_input(tmp_path, capsys, extra, message):
    args = ["synth", "--out", str(tmp_path), "--split", "train", "--n", "2", "--seed", "0",
            "--no-progress"]
    assert main(args + extra) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "train").exists()


def test_eval_scores_ground_truth_100_and_the_other_part_0(synth_root, tmp_path):
    """The split is a dataset root for instructpart eval: its own masks score 100, and the
    other part of the same image scores 0 (so the instruction decides the answer)."""
    assert main(["eval", "--dataset", str(synth_root), "--split", "test", "--predictions",
                 str(synth_root / "test" / "masks"), "--out", str(tmp_path / "truth")]) == 0
    overall = json.loads((tmp_path / "truth" / "metrics.json").read_text())["overall"]
    assert (overall["n"], overall["giou"], overall["ciou"]) == (22, 100.0, 100.0)

    swapped = tmp_path / "swapped"
    swapped.mkdir()
    samples = load_split(synth_root, "test")
    by_image = {}
    for sample in samples:
        by_image.setdefault(sample.id.split("-")[0], []).append(sample)
    for group in by_image.values():
        for sample, other in zip(group, group[1:] + group[:1]):
            (swapped / f"{sample.id}.png").write_bytes(other.mask_path.read_bytes())
    assert main(["eval", "--dataset", str(synth_root), "--split", "test", "--predictions",
                 str(swapped), "--out", str(tmp_path / "other")]) == 0
    assert json.loads((tmp_path / "other" / "metrics.json").read_text())["overall"]["giou"] == 0.0


def test_config_checks():
    with pytest.raises(ValueError, match="hfov_deg must be between 20 and 120"):
        SceneConfig(hfov_deg=5)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        render_scene(-1, 0)
    big = render_scene(0, 2, SceneConfig(width=640, height=480))
    assert big.rgb.shape == (480, 640, 3) and big.object_name == "kettle"
    assert all(2 * cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 5).max() >= 40
               for m in big.parts.values())


def test_contact_sheet_outlines_every_part(scenes):
    from instructpart_ros.datasets.synthetic_preview import OUTLINE_COLOURS, contact_sheet

    sheet = contact_sheet(scenes[:3], columns=2)
    assert sheet.shape == (2 * 240, 2 * 2 * 320, 3) and sheet.dtype == np.uint8
    assert not sheet[240:, 640:].any(), "the missing fourth tile is black"
    tile = sheet[:240, :320]
    for (name, mask), colour in zip(scenes[0].parts.items(), OUTLINE_COLOURS):
        rim = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        assert (tile[rim] == colour).all(axis=1).mean() > 0.5, name
