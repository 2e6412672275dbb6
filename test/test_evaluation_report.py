"""Reports people read: metrics.md layout, the per-class chart and the qualitative grid."""
import json

import numpy as np
import pytest
from PIL import Image

from instructpart_ros.evaluation.dataset import load_split
from instructpart_ros.evaluation.figures import (best_and_worst, overlay, plot_per_class,
                                                 plot_qualitative)
from instructpart_ros.evaluation.report import metrics_markdown, write_metrics


def summary(n, giou, ciou=50.0, p50=25.0, p50_95=12.5):
    return {"n": n, "giou": giou, "ciou": ciou, "p50": p50, "p50_95": p50_95}


def metrics(**extra):
    base = {
        "overall": summary(3, 43.214, 51.0, 33.3333, 20.0),
        "per_object": {"knife": summary(1, 10.0), "mug": summary(2, 60.0)},
        "per_part": {"handle": summary(3, 43.214)},
        "per_object_part": {"knife/handle": summary(1, 10.0), "mug/handle": summary(2, 60.0)},
        "per_affordance": {"hold": summary(3, 43.214)},
        "per_action": {"cut": summary(1, 10.0), "pick up": summary(2, 60.0)},
        "part_selection": None,
        "missing_predictions": [],
        "run": {"split": "test", "instruction": "gpt", "predictions": "/p", "method": "PISA-7B"},
    }
    base.update(extra)
    return base


def test_markdown_has_the_papers_row_and_every_breakdown():
    text = metrics_markdown(metrics())
    lines = text.splitlines()
    assert lines[0] == "# InstructPart evaluation: test split, 3 samples"
    assert "| Method | Instruction | N | gIoU | cIoU | P@50 | P@50:95 |" in lines
    assert "| PISA-7B | gpt | 3 | 43.21 | 51.00 | 33.33 | 20.00 |" in lines
    assert "TRPS, GPT-4-rewritten task instruction" in text
    for title in ("## Per object class", "## Per part class", "## Per object-part pair",
                  "## Per affordance", "## Per action", "## Part selection (table-top tasks)"):
        assert title in lines
    assert "| mug | 2 | 60.00 | 50.00 | 25.00 | 12.50 |" in lines
    assert "| knife/handle | 1 | 10.00 | 50.00 | 25.00 | 12.50 |" in lines
    assert "| pick up | 2 | 60.00 | 50.00 | 25.00 | 12.50 |" in lines
    assert "Not evaluated in this run." in lines
    assert "Missing predictions" not in text


def test_markdown_shows_part_selection_and_missing_predictions():
    missing = [f"id{i:03d}" for i in range(53)]
    text = metrics_markdown(metrics(part_selection={"n": 48, "accuracy": 87.5},
                                    missing_predictions=missing))
    lines = text.splitlines()
    assert "| n | 48 |" in lines and "| accuracy | 87.5 |" in lines
    assert "## Missing predictions (53, scored as empty)" in lines
    assert "- id049" in lines and "- id050" not in lines
    assert "- ... and 3 more (all listed in metrics.json)" in lines


def test_write_metrics_writes_json_and_markdown(tmp_path):
    data = metrics()
    json_path, markdown_path = write_metrics(tmp_path / "out", data)
    assert json.loads(json_path.read_text()) == data
    assert markdown_path.read_text() == metrics_markdown(data)


def test_best_and_worst_never_repeat_a_sample():
    ious = {"a": 90.0, "b": 10.0, "c": 90.0, "d": 50.0, "e": 0.0}
    assert best_and_worst(ious, 2) == (["a", "c"], ["e", "b"])
    assert best_and_worst(ious, 4) == (["a", "c", "d"], ["e", "b"])
    assert best_and_worst({"a": 1.0}, 4) == (["a"], [])


def test_per_class_chart(tmp_path):
    path = tmp_path / "per_class.png"
    plot_per_class({f"class {i}": summary(1, 2.0 * i) for i in range(30)}, 30.0, path)
    image = Image.open(path)
    assert image.format == "PNG"
    assert image.height > image.width   # one bar per class, so it grows with the classes
    with pytest.raises(ValueError, match="no classes to plot"):
        plot_per_class({}, 0.0, path)


def test_qualitative_grid_overlays_prediction_and_outline(instructpart_root, tmp_path):
    samples = load_split(instructpart_root, "test")[:3]
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    truth = np.array(Image.open(samples[0].mask_path)) > 0
    Image.fromarray(truth).save(predictions / f"{samples[0].id}.png")   # exact prediction

    tinted = overlay(samples[0], predictions, max_side=200)
    assert max(tinted.shape[:2]) == 200 and tinted.dtype == np.uint8
    plain = overlay(samples[0], tmp_path / "nothing", max_side=200)
    assert not np.array_equal(tinted, plain)

    path = tmp_path / "qualitative.png"
    ious = {samples[0].id: 100.0, samples[1].id: 0.0, samples[2].id: 40.0}
    best, worst = plot_qualitative(samples, ious, predictions, path, "human", count=1)
    assert (best, worst) == ([samples[0].id], [samples[1].id])
    assert Image.open(path).format == "PNG"
    with pytest.raises(ValueError, match="count must be at least 1, got 0"):
        plot_qualitative(samples, ious, predictions, path, "human", count=0)
