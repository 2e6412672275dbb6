"""A smaller InstructPart split made of the first samples of another one.

The subset's images and masks are symbolic links to the original files, so an 8-sample
overfitting run or a quick evaluation reads the real full-size data without copying it.
"""
from __future__ import annotations

import json
import pathlib

from instructpart_ros.evaluation.dataset import DatasetError, load_split, sample_id, split_dir, split_json_name


def write_split_subset(root: str | pathlib.Path, split: str, count: int, out: str | pathlib.Path,
                       out_split: str = "test") -> list[str]:
    """Write the first ``count`` samples (by id) of ``root``/``split`` as ``out``/``out_split``.

    Returns the ids written. The JSON keeps only their parts, in the dataset's layout.
    """
    samples = load_split(root, split)
    if not 1 <= count <= len(samples):
        raise DatasetError(f"split {split!r} of {root} has {len(samples)} samples; "
                           f"a subset of {count} is not possible: choose 1 to {len(samples)}")
    keep = {sample.id: sample for sample in samples[:count]}
    source = split_dir(root, split)
    pathlib.Path(out).mkdir(parents=True, exist_ok=True)
    target = split_dir(out, out_split)
    (target / "images").mkdir(parents=True, exist_ok=True)
    (target / "masks").mkdir(exist_ok=True)
    entries = []
    for entry in json.loads((source / split_json_name(split)).read_text()):
        parts = [part for part in entry["part_list"]
                 if sample_id(entry["image_path"], part["object"], part["part"]) in keep]
        if parts:
            entries.append({**entry, "part_list": parts})
    for sample in keep.values():
        for link, original in ((target / "images" / sample.image_path.name, sample.image_path),
                               (target / "masks" / sample.mask_path.name, sample.mask_path)):
            link.unlink(missing_ok=True)
            link.symlink_to(original.resolve())
    (target / split_json_name(out_split)).write_text(json.dumps(entries, indent=1))
    return sorted(keep)
