"""Candidate files: graspnetAPI .npy, Contact-GraspNet .npz (read without running pickled code), pose lists."""
import json
import os

import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation

from instructpart_ros.grasping import load_npz_safely, read_candidates, write_kept

from knife_grasps import PhysicalGrasp, poses


def physical(count=6, seed=0):
    rng = np.random.default_rng(seed)
    rotations = Rotation.random(count, random_state=seed).as_matrix()
    return [PhysicalGrasp(rng.uniform(-0.3, 0.3, 3), r[:, 0], r[:, 1], rng.uniform(0.01, 0.08)) for r in rotations]


def graspgroup_rows(grasps, scores):
    """Rows as graspnetAPI's GraspGroup holds them: score, width, height, depth, R (row-major), t, object id."""
    rotations, translations, widths = poses(grasps, "graspnet")
    rows = np.zeros((len(grasps), 17))
    rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3] = scores, widths, 0.02, 0.03
    rows[:, 4:13] = rotations.reshape(len(grasps), 9)
    rows[:, 13:16] = translations
    rows[:, 16] = 7
    return rows


def test_graspgroup_npy_is_read_row_major_and_written_back_best_first(tmp_path):
    grasps = physical()
    rows = graspgroup_rows(grasps, np.linspace(0.1, 0.6, 6))
    np.save(tmp_path / "grasps.npy", rows)
    candidates = read_candidates(tmp_path / "grasps.npy", "graspnet")
    np.testing.assert_allclose(candidates.grasps(0.1).approach, [g.approach for g in grasps], atol=1e-12)
    np.testing.assert_allclose(candidates.grasps(0.1).closing, [g.closing for g in grasps], atol=1e-12)
    np.testing.assert_array_equal(candidates.scores, rows[:, 0])
    new_scores = np.arange(6) / 10.0
    written = write_kept(candidates, np.array([4, 1]), new_scores, tmp_path)
    assert written == [tmp_path / "kept.npy"]
    kept = np.load(tmp_path / "kept.npy")
    expected = rows[[4, 1]].copy()
    expected[:, 0] = [0.4, 0.1]  # the new score replaces column 0; every other column is as read
    np.testing.assert_array_equal(kept, expected)


def test_a_graspgroup_with_the_wrong_column_count_or_convention_is_refused(tmp_path):
    np.save(tmp_path / "short.npy", np.zeros((3, 16)))
    with pytest.raises(ValueError) as error:
        read_candidates(tmp_path / "short.npy", "graspnet")
    assert str(error.value) == (
        f"grasp file {tmp_path / 'short.npy'} holds a float64 array of shape (3, 16): a graspnetAPI GraspGroup is "
        "(N, 17): score, width, height, depth, rotation (9, row-major), translation (3), object id "
        "(GraspGroup.save_npy writes it)")
    np.save(tmp_path / "ok.npy", graspgroup_rows(physical(), np.ones(6)))
    with pytest.raises(ValueError, match="a .npy file is read as a graspnetAPI GraspGroup array, whose convention is "
                                         "'graspnet', but the convention given is 'moveit'"):
        read_candidates(tmp_path / "ok.npy", "moveit")


def contact_graspnet_result(path, with_openings=False):
    """A result file written the way Contact-GraspNet's inference.py writes it: dicts keyed by segment id."""
    grasps = physical(7, seed=2)
    rotations, translations, widths = poses(grasps, "contact_graspnet")
    transforms = np.tile(np.eye(4), (7, 1, 1))
    transforms[:, :3, :3], transforms[:, :3, 3] = rotations, translations
    contacts = np.array([g.center - g.width / 2 * g.closing for g in grasps])
    scores = np.linspace(0.9, 0.3, 7)
    split = {np.float64(1.0): slice(0, 3), np.float64(4.0): slice(3, 7)}  # np.unique(segmap) gives numpy floats
    result = {
        "pred_grasps_cam": {key: transforms[rows] for key, rows in split.items()},
        "scores": {key: scores[rows] for key, rows in split.items()},
        "contact_pts": {key: contacts[rows] for key, rows in split.items()},
    }
    if with_openings:
        result["gripper_openings"] = {key: widths[rows] for key, rows in split.items()}
    np.savez(path, **result)
    return grasps, contacts, scores, widths


@pytest.mark.parametrize("with_openings", [False, True])
def test_contact_graspnet_results_are_read_with_segments_contacts_and_widths(tmp_path, with_openings):
    grasps, contacts, scores, widths = contact_graspnet_result(tmp_path / "predictions.npz", with_openings)
    candidates = read_candidates(tmp_path / "predictions.npz", "contact_graspnet", default_width=0.075)
    physical_grasps = candidates.grasps(0.1)
    np.testing.assert_allclose(physical_grasps.center, [g.center for g in grasps], atol=1e-12)
    np.testing.assert_array_equal(physical_grasps.anchor, contacts)
    np.testing.assert_array_equal(candidates.scores, scores)
    np.testing.assert_array_equal(candidates.segment_ids, [1.0] * 3 + [4.0] * 4)
    np.testing.assert_array_equal(candidates.widths, widths if with_openings else np.full(7, 0.075))
    assert candidates.widths_given is with_openings

    write_kept(candidates, np.array([5, 0, 2]), np.arange(7) / 10.0, tmp_path)
    kept = np.load(tmp_path / "kept.npy")
    assert kept.shape == (3, 4, 4)
    own = load_npz_safely(tmp_path / "kept.npz")  # the input's own layout, read back without allow_pickle
    by_segment = {key: own[key].item() for key in own}
    assert list(by_segment["pred_grasps_cam"]) == [4.0, 1.0]  # the best grasp's segment first
    np.testing.assert_array_equal(by_segment["scores"][1.0], [0.0, 0.2])
    np.testing.assert_array_equal(by_segment["contact_pts"][4.0], contacts[[5]])
    poses_by_segment = by_segment["pred_grasps_cam"]
    np.testing.assert_array_equal(np.concatenate([poses_by_segment[4.0], poses_by_segment[1.0]]), kept)
    assert ("gripper_openings" in by_segment) is with_openings


def test_contact_graspnet_segments_with_mismatched_lengths_name_the_segment(tmp_path):
    np.savez(tmp_path / "bad.npz", pred_grasps_cam={3: np.tile(np.eye(4), (2, 1, 1))}, scores={3: np.ones(3)})
    with pytest.raises(ValueError) as error:
        read_candidates(tmp_path / "bad.npz", "contact_graspnet")
    assert str(error.value) == (f"grasp file {tmp_path / 'bad.npz'}: segment 3 has 2 grasps in pred_grasps_cam but 3 "
                                "in scores: every key needs one entry per grasp")


class RunsCommand:
    """Pickles to a call of os.system: what a crafted .npz would hide."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_crafted_pickle_that_would_run_a_command_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    crafted = np.empty((), dtype=object)
    crafted[()] = {1: RunsCommand(marker)}
    np.savez(tmp_path / "crafted.npz", pred_grasps_cam=crafted, scores={1: np.ones(1)})
    assert b"system" in (tmp_path / "crafted.npz").read_bytes()  # the payload is really in the file
    with pytest.raises(ValueError) as error:
        read_candidates(tmp_path / "crafted.npz", "contact_graspnet")
    assert str(error.value) == (f"{tmp_path / 'crafted.npz'}: entry 'pred_grasps_cam': refused to load posix.system: "
                                "only numpy arrays, dicts and numbers are read from pickled .npz entries")
    assert not marker.exists()
    np.load(tmp_path / "crafted.npz", allow_pickle=True)["pred_grasps_cam"]  # what the restriction prevents
    assert marker.exists()


def test_pickled_lists_strings_and_object_arrays_are_refused(tmp_path):
    np.savez(tmp_path / "list.npz", pred_grasps_cam={1: [np.eye(4)]}, scores={1: np.ones(1)})
    with pytest.raises(ValueError, match=r"value\[1\] is a list: expected numpy arrays, dicts and numbers only"):
        load_npz_safely(tmp_path / "list.npz")
    np.savez(tmp_path / "keys.npz", scores={"handle": np.ones(1)})
    with pytest.raises(ValueError, match="has the key 'handle': expected numbers"):
        load_npz_safely(tmp_path / "keys.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="not a readable .npz file"):
        load_npz_safely(tmp_path / "text.npz")


def test_pose_lists_in_yaml_json_and_npz_round_trip(tmp_path):
    grasps = physical(4, seed=5)
    rotations, translations, widths = poses(grasps, "moveit")
    quaternions = Rotation.from_matrix(rotations).as_quat()
    message = {"header": {"frame_id": "camera_color_optical_frame"}, "convention": "moveit",
               "poses": [{"position": dict(zip("xyz", map(float, t))), "orientation": dict(zip("xyzw", map(float, q)))}
                         for t, q in zip(translations, quaternions)],
               "scores": [0.5, 0.6, 0.7, 0.8], "widths": widths.tolist()}
    (tmp_path / "grasps.yaml").write_text(yaml.safe_dump(message))
    (tmp_path / "grasps.json").write_text(json.dumps(message))
    np.savez(tmp_path / "grasps.npz", poses=np.concatenate([translations, quaternions], axis=1),
             scores=np.array(message["scores"]), widths=widths)
    for name in ("grasps.yaml", "grasps.json", "grasps.npz"):
        candidates = read_candidates(tmp_path / name, "moveit")
        np.testing.assert_allclose(candidates.grasps(0.1034).center, [g.center for g in grasps], atol=1e-9)
        np.testing.assert_allclose(candidates.widths, widths)
        out = tmp_path / name.replace(".", "_")
        out.mkdir()
        write_kept(candidates, np.array([3, 0]), np.array([0.1, 0.2, 0.3, 0.4]), out)
        np.testing.assert_allclose(np.load(out / "kept.npy")[:, :3, 3], translations[[3, 0]], atol=1e-9)
        again = read_candidates(out / f"kept{candidates.suffix}", "moveit")
        np.testing.assert_allclose(again.translations, translations[[3, 0]], atol=1e-9)
        np.testing.assert_allclose(again.scores, [0.4, 0.1])
    with pytest.raises(ValueError, match="says convention 'moveit' but 'graspnet' was given"):
        read_candidates(tmp_path / "grasps.yaml", "graspnet")


def test_pose_list_problems_are_named(tmp_path):
    (tmp_path / "no_orientation.yaml").write_text(yaml.safe_dump({"poses": [{"position": {"x": 0, "y": 0, "z": 1}}]}))
    with pytest.raises(ValueError, match="a pose lacks 'orientation'"):
        read_candidates(tmp_path / "no_orientation.yaml", "moveit")
    np.savez(tmp_path / "shape.npz", poses=np.zeros((2, 6)))
    with pytest.raises(ValueError, match=r"poses have shape \(2, 6\): expected \(N, 4, 4\) transforms or \(N, 7\)"):
        read_candidates(tmp_path / "shape.npz", "moveit")
    with pytest.raises(ValueError, match="unknown suffix '.txt'"):
        (tmp_path / "grasps.txt").write_text("")
        read_candidates(tmp_path / "grasps.txt", "moveit")
