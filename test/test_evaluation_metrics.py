"""The paper's metrics on hand-made masks, with the expected numbers written out."""
import pathlib

import numpy as np
import pytest

from instructpart_ros.evaluation.dataset import InstructPartSample
from instructpart_ros.evaluation.metrics import (MaskCounts, breakdown, mask_counts,
                                                 segmentation_metrics, summarize)


def masks(shape, prediction_pixels, truth_pixels):
    """Two uint8 masks (0/255 prediction, 0/1 ground truth) with the listed pixels set."""
    prediction, truth = np.zeros(shape, np.uint8), np.zeros(shape, np.uint8)
    for row, column in prediction_pixels:
        prediction[row, column] = 255
    for row, column in truth_pixels:
        truth[row, column] = 1
    return prediction, truth


def test_both_empty_counts_as_perfect():
    counts = mask_counts(*masks((4, 5), [], []))
    assert counts == MaskCounts(0, 0)
    assert counts.iou == 1.0
    assert summarize([counts]) == {"n": 1, "giou": 100.0, "ciou": 100.0, "p50": 100.0,
                                   "p50_95": 100.0}


def test_empty_prediction_with_ground_truth_scores_zero():
    counts = mask_counts(*masks((4, 5), [], [(0, 0), (0, 1), (1, 0), (1, 1)]))
    assert counts == MaskCounts(0, 4)
    assert counts.iou == 0.0
    assert summarize([counts]) == {"n": 1, "giou": 0.0, "ciou": 0.0, "p50": 0.0, "p50_95": 0.0}


def test_disjoint_masks():
    counts = mask_counts(*masks((4, 5), [(0, 0), (0, 1)], [(3, 2), (3, 3), (3, 4)]))
    assert counts == MaskCounts(0, 5)
    assert counts.iou == 0.0


def test_identical_masks():
    pixels = [(1, 1), (1, 2), (2, 1), (2, 2), (3, 4), (0, 0)]
    counts = mask_counts(*masks((4, 5), pixels, pixels))
    assert counts == MaskCounts(6, 6)
    assert counts.iou == 1.0


def test_nested_masks_and_the_p50_boundary():
    # prediction 4x4 inside a 4x8 ground truth: IoU exactly 0.5, which is NOT > 0.5
    prediction = np.zeros((6, 10), bool)
    prediction[1:5, 1:5] = True
    truth = np.zeros((6, 10), bool)
    truth[1:5, 1:9] = True
    counts = mask_counts(prediction, truth)
    assert counts == MaskCounts(16, 32)
    assert counts.iou == 0.5
    assert summarize([counts]) == {"n": 1, "giou": 50.0, "ciou": 50.0, "p50": 0.0,
                                   "p50_95": 0.0}


def test_any_nonzero_value_is_foreground():
    prediction = np.array([[2, 0, 7]], np.uint8)   # 2 & 1 == 0: must not be a bitwise AND
    truth = np.array([[1, 1, 0]], np.uint16)
    assert mask_counts(prediction, truth) == MaskCounts(1, 3)


@pytest.mark.parametrize("intersection, union, expected_p50_95", [
    (11, 20, 10.0),   # IoU 0.55: above 0.50 only (not above 0.55 itself)
    (3, 4, 50.0),     # IoU 0.75: above 0.50, 0.55, 0.60, 0.65, 0.70
    (13, 20, 30.0),   # IoU 0.65: above 0.50, 0.55, 0.60
    (7, 10, 40.0),    # IoU 0.70
    (19, 20, 90.0),   # IoU 0.95: above every threshold but 0.95
    (20, 20, 100.0),
])
def test_thresholds_exactly_at_a_boundary_are_not_passed(intersection, union, expected_p50_95):
    summary = summarize([MaskCounts(intersection, union)])
    assert summary["p50_95"] == pytest.approx(expected_p50_95, abs=1e-12)
    assert summary["p50"] == 100.0


def test_mixed_set_written_out():
    counts = [
        MaskCounts(0, 0),    # both empty: IoU 1
        MaskCounts(0, 4),    # prediction empty: 0
        MaskCounts(0, 5),    # disjoint: 0
        MaskCounts(6, 6),    # identical: 1
        MaskCounts(16, 32),  # nested: 0.5
        MaskCounts(11, 20),  # 0.55
        MaskCounts(19, 20),  # 0.95
    ]
    summary = summarize(counts)
    assert summary["n"] == 7
    assert summary["giou"] == pytest.approx(100 * 4.0 / 7)          # (1+0+0+1+.5+.55+.95)/7
    assert summary["ciou"] == pytest.approx(100 * 52 / 87)          # (6+16+11+19)/(4+5+6+32+20+20)
    assert summary["p50"] == pytest.approx(100 * 4 / 7)             # 1, 1, 0.55, 0.95
    # per threshold: 0.50 -> 4 pass; 0.55..0.90 (8 thresholds) -> 3; 0.95 -> 2: 30 of 70
    assert summary["p50_95"] == pytest.approx(100 * 30 / 70)


def test_ciou_pools_pixels_while_giou_averages_samples():
    summary = summarize([MaskCounts(90, 100), MaskCounts(0, 10)])
    assert summary["giou"] == pytest.approx(45.0)
    assert summary["ciou"] == pytest.approx(100 * 90 / 110)


def test_bad_input_is_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"prediction shape \(2, 3\) differs from ground "
                                         r"truth shape \(3, 2\)"):
        mask_counts(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="no samples to summarize"):
        summarize([])
    with pytest.raises(ValueError, match="0 <= intersection <= union"):
        summarize([MaskCounts(5, 4)])


def sample(sample_id, obj, part, affordance="hold", action="pick up"):
    return InstructPartSample(sample_id, pathlib.Path(f"{sample_id}.jpg"),
                              pathlib.Path(f"{sample_id}.png"), obj, part, affordance, action,
                              {})


def test_breakdowns_group_by_class():
    samples = [sample("a-mug-handle", "mug", "handle", "hold", "pick up"),
               sample("b-mug-body", "mug", "body", "contain", "pour"),
               sample("c-knife-handle", "knife", "handle", "hold", "cut")]
    counts = [MaskCounts(1, 2), MaskCounts(3, 4), MaskCounts(0, 5)]
    metrics = segmentation_metrics(samples, counts)
    assert list(metrics) == ["overall", "per_object", "per_part", "per_object_part",
                             "per_affordance", "per_action", "part_selection", "per_sample"]
    assert metrics["part_selection"] is None
    assert metrics["overall"]["n"] == 3
    assert list(metrics["per_object"]) == ["knife", "mug"]
    assert metrics["per_object"]["mug"]["giou"] == pytest.approx(100 * (0.5 + 0.75) / 2)
    assert metrics["per_object"]["mug"]["ciou"] == pytest.approx(100 * 4 / 6)
    assert metrics["per_part"]["handle"]["n"] == 2
    assert metrics["per_part"]["handle"]["giou"] == pytest.approx(25.0)
    assert list(metrics["per_object_part"]) == ["knife/handle", "mug/body", "mug/handle"]
    assert metrics["per_affordance"]["hold"]["ciou"] == pytest.approx(100 * 1 / 7)
    assert metrics["per_action"]["cut"]["giou"] == 0.0
    assert metrics["per_sample"]["b-mug-body"] == {"iou": 75.0, "intersection": 3, "union": 4}


def test_breakdown_and_metrics_need_matching_lengths():
    with pytest.raises(ValueError, match="2 samples but 1 counts"):
        segmentation_metrics([sample("a-x-y", "x", "y"), sample("b-x-y", "x", "y")],
                             [MaskCounts(1, 1)])
    with pytest.raises(ValueError):
        breakdown(["a", "b"], [MaskCounts(1, 1)])
