"""Grasp candidate files in and out: graspnetAPI ``GraspGroup`` .npy, Contact-GraspNet result .npz,
and plain pose lists (.npz arrays, or .yaml/.json laid out like a ``GraspCandidates`` message).

:func:`read_candidates` gives a :class:`CandidateSet` (poses in the file's own convention
plus what is needed to write the kept ones back in the same layout);
:func:`write_kept` writes them, best first, with the new scores.
"""
from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np
import yaml

from .conventions import CONTACT_GRASPNET, GRASPNET, Grasps, check_convention, grasps_from_poses
from .quaternions import quaternions_from_rotations, rotations_from_quaternions
from .safe_npz import load_npz_safely

GRASPNET_COLUMNS = 17  # score, width, height, depth, rotation (9, row-major), translation (3), object id
GRASPNET_LAYOUT = "graspnet_npy"
CONTACT_GRASPNET_LAYOUT = "contact_graspnet_npz"
POSE_LIST_LAYOUT = "pose_list"
POSE_LIST_SUFFIXES = (".npz", ".yaml", ".yml", ".json")
CONTACT_GRASPNET_KEYS = ("pred_grasps_cam", "scores", "contact_pts", "gripper_openings")


@dataclass(frozen=True)
class CandidateSet:
    """Candidates as a file holds them: poses in ``convention`` and how to write them back."""

    convention: str
    layout: str  # GRASPNET_LAYOUT, CONTACT_GRASPNET_LAYOUT or POSE_LIST_LAYOUT
    rotations: np.ndarray  # (N, 3, 3)
    translations: np.ndarray  # (N, 3)
    widths: np.ndarray  # (N,)
    scores: np.ndarray  # (N,)
    contacts: Optional[np.ndarray] = None  # (N, 3) Contact-GraspNet contact points
    rows: Optional[np.ndarray] = None  # graspnet: the (N, 17) rows as read
    segment_ids: Optional[np.ndarray] = None  # contact_graspnet: each grasp's segment id
    widths_given: bool = True  # False: the file had none and ``default_width`` was used
    suffix: str = ".npy"

    def __len__(self) -> int:
        return len(self.widths)

    def grasps(self, tcp_offset: float) -> Grasps:
        """The physical grasps (checked: NaN, non-orthonormal rotations, widths <= 0 raise)."""
        return grasps_from_poses(self.rotations, self.translations, self.widths, self.scores, self.convention,
                                 self.contacts, tcp_offset)


def read_candidates(path, convention: str, default_width: float = 0.08) -> CandidateSet:
    """Read a candidate file; its layout comes from the suffix (and, for .npz, its keys).

    ``.npy``: a graspnetAPI ``GraspGroup`` array (``convention`` must be ``graspnet``);
    ``.npz`` with ``pred_grasps_cam``: a Contact-GraspNet result (``contact_graspnet``);
    ``.npz`` with ``poses``, ``.yaml``/``.yml``/``.json``: a pose list in ``convention``.
    Candidates without a width get ``default_width``. Raises ``ValueError`` naming the problem.
    """
    path = pathlib.Path(path)
    check_convention(convention)
    if not path.is_file():
        raise ValueError(f"grasp file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        _expect(convention, GRASPNET, path, "a .npy file is read as a graspnetAPI GraspGroup array")
        return _read_graspnet(path)
    if suffix == ".npz":
        entries = load_npz_safely(path)
        if "pred_grasps_cam" in entries:
            _expect(convention, CONTACT_GRASPNET, path, "it holds Contact-GraspNet's pred_grasps_cam")
            return _read_contact_graspnet(path, entries, default_width)
        return _pose_list(path, convention, entries, default_width)
    if suffix in POSE_LIST_SUFFIXES:
        return _pose_list(path, convention, _read_message_layout(path, convention), default_width)
    raise ValueError(f"grasp file {path}: unknown suffix {suffix!r}: use .npy (graspnetAPI GraspGroup), .npz "
                     "(Contact-GraspNet result or poses/scores/widths arrays), .yaml or .json (a pose list)")


def _expect(convention: str, expected: str, path, why: str) -> None:
    if convention != expected:
        raise ValueError(f"grasp file {path}: {why}, whose convention is {expected!r}, but the convention given "
                         f"is {convention!r}: pass {expected}, or give the poses as a pose list (.npz/.yaml)")


def _read_graspnet(path: pathlib.Path) -> CandidateSet:
    try:
        rows = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise ValueError(f"grasp file {path}: not a numeric .npy array ({error})") from None
    if rows.ndim != 2 or rows.shape[1] != GRASPNET_COLUMNS or rows.dtype.kind not in "iuf":
        raise ValueError(
            f"grasp file {path} holds a {rows.dtype} array of shape {rows.shape}: a graspnetAPI GraspGroup is "
            f"(N, {GRASPNET_COLUMNS}): score, width, height, depth, rotation (9, row-major), translation (3), "
            "object id (GraspGroup.save_npy writes it)")
    rows = rows.astype(np.float64)
    return CandidateSet(GRASPNET, GRASPNET_LAYOUT, rows[:, 4:13].reshape(-1, 3, 3), rows[:, 13:16], rows[:, 1],
                        rows[:, 0], rows=rows)


def _segments(path, entries: dict, key: str) -> dict:
    """A Contact-GraspNet entry as ``{segment id: array}`` (a bare array is segment -1, the whole scene)."""
    value = entries[key]
    if isinstance(value, np.ndarray) and value.dtype.hasobject and value.shape == ():
        value = value.item()
    if isinstance(value, np.ndarray):
        value = {-1: value}
    if not isinstance(value, dict):
        raise ValueError(f"grasp file {path}: {key} is a {type(value).__name__}: expected a dict of arrays "
                         "keyed by segment id, as Contact-GraspNet saves it")
    return {key_: np.asarray(array, dtype=np.float64) for key_, array in value.items()}


def _read_contact_graspnet(path, entries: dict, default_width: float) -> CandidateSet:
    if "scores" not in entries:
        raise ValueError(f"grasp file {path} has pred_grasps_cam but no scores: expected Contact-GraspNet's "
                         f"result keys {list(CONTACT_GRASPNET_KEYS[:3])}")
    present = [key for key in CONTACT_GRASPNET_KEYS if key in entries]
    segments = {key: _segments(path, entries, key) for key in present}
    poses, parts = segments["pred_grasps_cam"], {key: [] for key in present}
    segment_ids = []
    for segment, transforms in poses.items():
        count = len(transforms)
        if transforms.ndim != 3 or transforms.shape[1:] != (4, 4):
            raise ValueError(f"grasp file {path}: pred_grasps_cam[{segment!r}] has shape {transforms.shape}: "
                             "expected (N, 4, 4) homogeneous grasp poses")
        for key in present:
            array = segments[key].get(segment)
            if array is None or len(array) != count:
                found = "nothing" if array is None else f"{len(array)}"
                raise ValueError(f"grasp file {path}: segment {segment!r} has {count} grasps in pred_grasps_cam "
                                 f"but {found} in {key}: every key needs one entry per grasp")
            parts[key].append(array.reshape(count, *array.shape[1:]))
        segment_ids += [segment] * count
    stacked = {key: np.concatenate(arrays) if arrays else np.zeros((0,)) for key, arrays in parts.items()}
    transforms = stacked["pred_grasps_cam"].reshape(-1, 4, 4)
    bottom = np.abs(transforms[:, 3] - [0.0, 0.0, 0.0, 1.0]).max(axis=1) > 1e-6
    if bottom.any():
        index = int(np.flatnonzero(bottom)[0])
        raise ValueError(f"grasp file {path}: candidate {index}: pred_grasps_cam's last row is "
                         f"{transforms[index, 3].tolist()}: expected [0, 0, 0, 1] (a homogeneous transform)")
    count = len(transforms)
    widths = stacked.get("gripper_openings", np.full(count, float(default_width))).reshape(count)
    contacts = stacked["contact_pts"].reshape(count, -1)[:, :3] if "contact_pts" in stacked else None
    return CandidateSet(CONTACT_GRASPNET, CONTACT_GRASPNET_LAYOUT, transforms[:, :3, :3], transforms[:, :3, 3],
                        widths, stacked["scores"].reshape(count), contacts=contacts,
                        segment_ids=np.asarray(segment_ids), widths_given="gripper_openings" in stacked,
                        suffix=".npz")


def _read_message_layout(path: pathlib.Path, convention: str) -> dict:
    """A .yaml/.json pose list laid out like ``ros2 topic echo`` of a GraspCandidates message."""
    try:
        data = json.loads(path.read_text()) if path.suffix.lower() == ".json" else yaml.safe_load(path.read_text())
    except (ValueError, yaml.YAMLError) as error:
        raise ValueError(f"grasp file {path}: cannot parse it: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("poses"), list):
        raise ValueError(f"grasp file {path}: expected a mapping with 'poses' (a list of {{position: {{x, y, z}}, "
                         "orientation: {x, y, z, w}}}), 'scores' and 'widths', as `ros2 topic echo` prints a "
                         "GraspCandidates message")
    file_convention = data.get("convention") or convention
    if file_convention != convention:
        raise ValueError(f"grasp file {path} says convention {file_convention!r} but {convention!r} was given")
    try:
        positions = [[pose["position"][axis] for axis in "xyz"] for pose in data["poses"]]
        orientations = [[pose["orientation"][axis] for axis in "xyzw"] for pose in data["poses"]]
    except (KeyError, TypeError) as error:
        raise ValueError(f"grasp file {path}: a pose lacks {error}: each needs position {{x, y, z}} and "
                         "orientation {x, y, z, w}") from None
    entries = {"positions": np.asarray(positions, np.float64).reshape(-1, 3),
               "quaternions": np.asarray(orientations, np.float64).reshape(-1, 4)}
    for key in ("scores", "widths"):
        if data.get(key) is not None:
            entries[key] = np.asarray(data[key], np.float64)
    return entries


def _pose_list(path, convention: str, entries: dict, default_width: float) -> CandidateSet:
    """Poses ((N, 4, 4) or (N, 7) x y z qx qy qz qw, or positions + quaternions), scores, widths."""
    if "poses" in entries:
        poses = np.asarray(entries["poses"], dtype=np.float64)
        if poses.ndim == 3 and poses.shape[1:] == (4, 4):
            rotations, translations = poses[:, :3, :3], poses[:, :3, 3]
        elif poses.ndim == 2 and poses.shape[1] == 7:
            rotations, translations = rotations_from_quaternions(poses[:, 3:]), poses[:, :3]
        else:
            raise ValueError(f"grasp file {path}: poses have shape {poses.shape}: expected (N, 4, 4) transforms "
                             "or (N, 7) rows x, y, z, qx, qy, qz, qw")
    elif "positions" in entries:
        rotations, translations = rotations_from_quaternions(entries["quaternions"]), entries["positions"]
    else:
        raise ValueError(f"grasp file {path} has entries {sorted(entries)}: a pose list needs 'poses' "
                         "(and 'scores', 'widths')")
    count = len(translations)
    scores = np.asarray(entries.get("scores", np.ones(count)), np.float64)
    widths_given = "widths" in entries
    widths = np.asarray(entries["widths"], np.float64) if widths_given else np.full(count, float(default_width))
    return CandidateSet(convention, POSE_LIST_LAYOUT, rotations, translations, widths, scores,
                        widths_given=widths_given, suffix=pathlib.Path(path).suffix.lower())


def write_kept(candidates: CandidateSet, kept: np.ndarray, scores: np.ndarray, out_dir) -> list:
    """Write the ``kept`` candidates (input indices, best first) with their new ``scores`` (one per input
    candidate) to ``out_dir``; returns the paths written.

    ``kept.npy`` always: the (K, 17) GraspGroup rows for graspnet input, else the (K, 4, 4)
    poses in the input's convention. Contact-GraspNet and pose-list input also get
    ``kept.npz`` / ``kept.yaml`` / ``kept.json`` in the input's own layout.
    """
    out_dir = pathlib.Path(out_dir)
    kept = np.asarray(kept, dtype=np.int64)
    new_scores = np.asarray(scores, dtype=np.float64)[kept]
    chosen = replace(candidates, rotations=candidates.rotations[kept], translations=candidates.translations[kept],
                     widths=candidates.widths[kept], scores=new_scores,
                     contacts=None if candidates.contacts is None else candidates.contacts[kept])
    written = [out_dir / "kept.npy"]
    if candidates.layout == GRASPNET_LAYOUT:
        rows = candidates.rows[kept].copy()
        rows[:, 0] = new_scores
        np.save(written[0], rows)
        return written
    np.save(written[0], _transforms(chosen.rotations, chosen.translations))
    own = out_dir / f"kept{candidates.suffix}"
    if candidates.layout == CONTACT_GRASPNET_LAYOUT:
        _write_contact_graspnet(own, chosen, candidates.segment_ids[kept])
    elif candidates.suffix == ".npz":
        np.savez(own, poses=_transforms(chosen.rotations, chosen.translations), scores=new_scores,
                 widths=chosen.widths)
    else:
        _write_message_layout(own, chosen)
    return written + [own]


def _transforms(rotations: np.ndarray, translations: np.ndarray) -> np.ndarray:
    transforms = np.tile(np.eye(4), (len(rotations), 1, 1))
    transforms[:, :3, :3] = rotations
    transforms[:, :3, 3] = translations
    return transforms


def _write_contact_graspnet(path: pathlib.Path, chosen: CandidateSet, segment_ids: np.ndarray) -> None:
    """Contact-GraspNet's own layout: dicts keyed by segment id (pickled by np.savez, as it saves them)."""
    transforms = _transforms(chosen.rotations, chosen.translations)
    layout = {key: {} for key in CONTACT_GRASPNET_KEYS}
    for segment in dict.fromkeys(segment_ids.tolist()):  # first-seen order: the best grasp's segment first
        rows = segment_ids == segment
        layout["pred_grasps_cam"][segment] = transforms[rows]
        layout["scores"][segment] = chosen.scores[rows]
        if chosen.contacts is not None:
            layout["contact_pts"][segment] = chosen.contacts[rows]
        if chosen.widths_given:
            layout["gripper_openings"][segment] = chosen.widths[rows]
    np.savez(path, **{key: value for key, value in layout.items() if value or key in ("pred_grasps_cam", "scores")})


def _write_message_layout(path: pathlib.Path, chosen: CandidateSet) -> None:
    quaternions = quaternions_from_rotations(chosen.rotations)
    data = {
        "convention": chosen.convention,
        "poses": [{"position": dict(zip("xyz", map(float, position))),
                   "orientation": dict(zip("xyzw", map(float, quaternion)))}
                  for position, quaternion in zip(chosen.translations, quaternions)],
        "scores": [float(score) for score in chosen.scores],
        "widths": [float(width) for width in chosen.widths],
    }
    text = json.dumps(data, indent=1) if path.suffix == ".json" else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text)
