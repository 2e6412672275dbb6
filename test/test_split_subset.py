"""write_split_subset: a smaller split of real InstructPart samples, linked, readable by load_split."""
import json

import pytest

from instructpart_ros.datasets.split_subset import write_split_subset
from instructpart_ros.evaluation.dataset import DatasetError, load_split


def test_the_subset_holds_the_first_samples_as_links_to_the_originals(data_root, tmp_path):
    source = load_split(data_root / "InstructPart", "test")
    ids = write_split_subset(data_root / "InstructPart", "test", 3, tmp_path / "small")
    subset = load_split(tmp_path / "small", "test")
    assert ids == [s.id for s in source[:3]] == [s.id for s in subset]
    for original, copy in zip(source, subset):
        assert copy.image_path.is_symlink() and copy.image_path.resolve() == original.image_path.resolve()
        assert copy.mask_path.resolve() == original.mask_path.resolve()
        assert copy.instructions == original.instructions and copy.part == original.part
    entries = json.loads((tmp_path / "small" / "test" / "data_test.json").read_text())
    assert sum(len(e["part_list"]) for e in entries) == 3


def test_a_subset_larger_than_the_split_is_refused_with_the_split_size(data_root, tmp_path):
    total = len(load_split(data_root / "InstructPart", "test"))
    with pytest.raises(DatasetError, match=f"has {total} samples.*choose 1 to {total}"):
        write_split_subset(data_root / "InstructPart", "test", total + 1, tmp_path / "small")
