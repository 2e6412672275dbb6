"""``instructpart eval`` end to end: the files in OUT and the numbers in them."""
import json
import os
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from instructpart_ros.cli import main
from instructpart_ros.evaluation.dataset import load_split
from test_evaluation_support import write_derived_predictions, write_small_dataset


@pytest.fixture(scope="module")
def derived(instructpart_root, tmp_path_factory):
    folder = tmp_path_factory.mktemp("derived")
    return folder, write_derived_predictions(load_split(instructpart_root, "test"), folder)


@pytest.fixture()
def small_root(instructpart_root, tmp_path):
    return write_small_dataset(instructpart_root, tmp_path / "InstructPart")


def test_scores_real_samples_and_writes_every_report_file(instructpart_root, derived,
                                                          tmp_path, capsys):
    predictions, expected = derived
    out = tmp_path / "out"
    status = main(["eval", "--dataset", str(instructpart_root), "--split", "test",
                   "--predictions", str(predictions), "--out", str(out),
                   "--instruction", "gpt", "--method", "derived", "--workers", "2"])
    assert status == 0
    metrics = json.loads((out / "metrics.json").read_text())
    overall = metrics["overall"]
    assert overall["n"] == 50
    assert overall["giou"] == pytest.approx(expected["giou"], abs=1e-9)
    assert overall["ciou"] == pytest.approx(expected["ciou"], abs=1e-9)
    assert overall["p50"] == pytest.approx(expected["p50"], abs=1e-9)
    assert {sid: row["iou"] for sid, row in metrics["per_sample"].items()} == \
        pytest.approx(expected["per_sample"], abs=1e-9)
    assert len(metrics["per_object"]) == 48
    assert metrics["per_object"]["microwave"]["n"] == 2
    assert set(metrics) >= {"per_part", "per_object_part", "per_affordance", "per_action"}
    assert metrics["part_selection"] is None
    assert metrics["missing_predictions"] == []
    assert metrics["run"]["instruction"] == "gpt" and metrics["run"]["method"] == "derived"

    row = (f"| derived | gpt | 50 | {expected['giou']:.2f} | {expected['ciou']:.2f} | "
           f"{expected['p50']:.2f} | {overall['p50_95']:.2f} |")
    assert row in (out / "metrics.md").read_text().splitlines()
    for name in ("per_class.png", "qualitative.png"):
        assert Image.open(out / name).format == "PNG"
    printed = capsys.readouterr().out
    assert f"gIoU {expected['giou']:.2f}  cIoU {expected['ciou']:.2f}" in printed


def test_missing_predictions_are_listed(small_root, tmp_path, capsys):
    predictions = tmp_path / "pred"
    shutil.copytree(small_root / "test" / "masks", predictions)
    ids = sorted(p.stem for p in predictions.glob("*.png"))
    for sid in ids[:2]:
        (predictions / f"{sid}.png").unlink()
    assert main(["eval", "--dataset", str(small_root), "--predictions", str(predictions),
                 "--out", str(tmp_path / "out")]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["missing_predictions"] == ids[:2]
    assert metrics["overall"]["giou"] == pytest.approx(100 * 4 / 6)
    assert metrics["overall"]["p50"] == pytest.approx(100 * 4 / 6)
    markdown = (tmp_path / "out" / "metrics.md").read_text().splitlines()
    assert "## Missing predictions (2, scored as empty)" in markdown
    assert f"- {ids[0]}" in markdown
    assert "2 predictions missing (scored as empty)" in capsys.readouterr().err


def test_limit_takes_the_first_samples(small_root, tmp_path):
    assert main(["eval", "--dataset", str(small_root), "--predictions",
                 str(small_root / "test" / "masks"), "--out", str(tmp_path / "out"),
                 "--limit", "2", "--qualitative", "1"]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert list(metrics["per_sample"]) == sorted(metrics["per_sample"])
    assert len(metrics["per_sample"]) == 2 and metrics["overall"]["giou"] == 100.0


def test_wrong_size_prediction_stops_with_its_name(small_root, tmp_path, capsys):
    predictions = tmp_path / "pred"
    shutil.copytree(small_root / "test" / "masks", predictions)
    bad = predictions / "kitchen_1-faucet-handle.png"
    Image.new("L", (20, 10)).save(bad)
    truth = small_root / "test" / "masks" / "kitchen_1-faucet-handle.png"
    width, height = Image.open(truth).size
    assert main(["eval", "--dataset", str(small_root), "--predictions", str(predictions),
                 "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"instructpart eval: error: sample kitchen_1-faucet-handle: prediction {bad} is 20x10 "
        f"but its ground truth {truth} is {width}x{height} (width x height); write "
        "predictions at the image's full size")


@pytest.mark.parametrize("extra, message", [
    ([], "--predictions DIR is required (or --checkpoint DIR to run a model and write "
         "predictions)"),
    (["--predictions", "{tmp}/nope"], "--predictions {tmp}/nope is not a directory: pass the "
                                      "folder holding <sample id>.png masks"),
    (["--predictions", "{tmp}", "--kind", "pisa"], "--kind only apply with --checkpoint: add "
     "--checkpoint DIR to run a model, or drop them to score --predictions"),
    (["--checkpoint", "{tmp}"], "--checkpoint needs --kind pisa or --kind lisa"),
    (["--predictions", "{tmp}", "--limit", "0"], "--limit must be at least 1, got 0"),
    (["--predictions", "{tmp}", "--workers", "0"], "--workers must be at least 1, got 0"),
])
def test_bad_options_get_a_message_and_status_2(small_root, tmp_path, capsys, extra, message):
    extra = [item.format(tmp=tmp_path) for item in extra]
    status = main(["eval", "--dataset", str(small_root), "--out", str(tmp_path / "out")] + extra)
    assert status == 2
    assert capsys.readouterr().err.strip() == \
        f"instructpart eval: error: {message.format(tmp=tmp_path)}"
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_bad_dataset_gets_a_message(tmp_path, capsys):
    assert main(["eval", "--dataset", str(tmp_path), "--split", "val", "--predictions",
                 str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == (
        "instructpart eval: error: unknown split 'val': "
        "use test, all, train or trainNNNN (found on disk: none)")


def test_console_script(small_root, tmp_path):
    executable = shutil.which("instructpart", path=os.path.dirname(sys.executable))
    assert executable, "the instructpart console script is not installed in this environment"
    listing = subprocess.run([executable, "--help"], capture_output=True, text=True, check=True)
    assert "eval" in listing.stdout
    done = subprocess.run([executable, "eval", "--dataset", str(small_root), "--predictions",
                           str(small_root / "test" / "masks"), "--out", str(tmp_path / "out"),
                           "--method", "truth"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == ("truth on test (6 samples, instruction human): "
                                           "gIoU 100.00  cIoU 100.00  P@50 100.00  "
                                           "P@50:95 100.00")
