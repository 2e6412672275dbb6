"""Scoring prediction files: the 50 real samples with predictions made from the ground truth."""
import numpy as np
import pytest
from PIL import Image

from instructpart_ros.evaluation.dataset import load_split
from instructpart_ros.evaluation.scoring import (PredictionError, read_binary_mask,
                                                 score_predictions)
from instructpart_ros.evaluation.metrics import summarize
from test_evaluation_support import read_truth, write_derived_predictions


@pytest.fixture(scope="module")
def real_samples(instructpart_root):
    return load_split(instructpart_root, "test")


@pytest.fixture(scope="module")
def derived(real_samples, tmp_path_factory):
    folder = tmp_path_factory.mktemp("derived")
    return folder, write_derived_predictions(real_samples, folder)


def test_derived_predictions_score_as_computed_independently(real_samples, derived):
    folder, expected = derived
    assert set(expected["variant"].values()) == {"exact", "eroded", "shifted", "empty"}
    scored = score_predictions(real_samples, folder, workers=2)
    assert scored.missing == []
    ious = {s.id: 100.0 * c.iou for s, c in zip(real_samples, scored.counts)}
    assert ious == pytest.approx(expected["per_sample"], abs=1e-9)
    for sample_id, variant in expected["variant"].items():
        if variant == "exact":
            assert ious[sample_id] == 100.0
        elif variant == "empty":
            assert ious[sample_id] == 0.0
        else:
            assert 0.0 < ious[sample_id] < 100.0, (sample_id, variant)
    summary = summarize(scored.counts)
    assert summary["n"] == 50
    assert summary["giou"] == pytest.approx(expected["giou"], abs=1e-9)
    assert summary["ciou"] == pytest.approx(expected["ciou"], abs=1e-9)
    assert summary["p50"] == pytest.approx(expected["p50"], abs=1e-9)


def test_ground_truth_as_prediction_is_perfect(real_samples, instructpart_root):
    scored = score_predictions(real_samples[:10], instructpart_root / "test" / "masks",
                               workers=1)
    assert summarize(scored.counts) == {"n": 10, "giou": 100.0, "ciou": 100.0, "p50": 100.0,
                                        "p50_95": 100.0}


def test_missing_predictions_are_empty_and_listed(real_samples, tmp_path):
    chosen = real_samples[:3]
    scored = score_predictions(chosen, tmp_path)
    assert scored.missing == [s.id for s in chosen]
    assert [c.intersection for c in scored.counts] == [0, 0, 0]
    assert [c.union for c in scored.counts] == [int(read_truth(s.mask_path).sum())
                                                for s in chosen]


def test_wrong_size_names_sample_and_both_sizes(real_samples, tmp_path):
    sample = real_samples[0]
    width, height = Image.open(sample.mask_path).size
    Image.new("L", (64, 48)).save(tmp_path / f"{sample.id}.png")
    with pytest.raises(PredictionError) as error:
        score_predictions([sample], tmp_path)
    assert str(error.value) == (
        f"sample {sample.id}: prediction {tmp_path / (sample.id + '.png')} is 64x48 but its "
        f"ground truth {sample.mask_path} is {width}x{height} (width x height); write "
        "predictions at the image's full size")


def test_undecodable_prediction_is_named(real_samples, tmp_path):
    path = tmp_path / f"{real_samples[0].id}.png"
    path.write_bytes(b"not a png")
    with pytest.raises(PredictionError, match=f"cannot decode {path} as an image"):
        score_predictions(real_samples[:1], tmp_path)


@pytest.mark.parametrize("mode, value", [("L", 255), ("L", 1), ("1", 1), ("I;16", 300),
                                         ("RGB", (0, 0, 1)), ("RGBA", (9, 0, 0, 0))])
def test_prediction_formats_foreground_is_nonzero(tmp_path, mode, value):
    image = Image.new(mode, (5, 4))
    image.putpixel((1, 2), value)
    image.putpixel((4, 0), value)
    if mode == "RGBA":   # an opaque black pixel is background: alpha is not a colour
        image.putpixel((0, 0), (0, 0, 0, 255))
    image.save(tmp_path / "m.png")
    expected = np.zeros((4, 5), bool)
    expected[2, 1] = expected[0, 4] = True
    np.testing.assert_array_equal(read_binary_mask(tmp_path / "m.png"), expected)


def test_workers_must_be_positive(real_samples, tmp_path):
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        score_predictions(real_samples[:1], tmp_path, workers=0)
