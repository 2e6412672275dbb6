"""``instructpart eval --checkpoint``: a tiny PISA/LISA through load_segmenter, resumable,
and the same metrics from two torchrun (gloo) processes as from one."""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import instructpart_ros.model
from instructpart_ros.cli import main
from instructpart_ros.model.provenance import read_provenance, untrained_warning, write_provenance
from instructpart_ros.model.tiny import write_tiny_checkpoints
from test_evaluation_support import SMALL_IDS, write_small_dataset


@pytest.fixture(scope="module")
def small_root(instructpart_root, tmp_path_factory):
    return write_small_dataset(instructpart_root, tmp_path_factory.mktemp("data") / "InstructPart")


@pytest.fixture(scope="module")
def tiny_pisa(tmp_path_factory):
    return write_tiny_checkpoints(tmp_path_factory.mktemp("tiny_pisa"), kind="pisa", seed=0)


def model_args(paths, kind="pisa"):
    args = ["--checkpoint", paths["checkpoint"], "--kind", kind,
            "--vision-tower", paths["vision_tower"], "--device", "cpu", "--dtype", "float32"]
    return args + (["--dinov2", paths["dinov2"]] if paths["dinov2"] else [])


def eval_args(root, out, instruction="opa"):
    return ["eval", "--dataset", str(root), "--out", str(out), "--instruction", instruction,
            "--qualitative", "2"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Every in-process run here on one thread, as each torchrun rank (OMP_NUM_THREADS=1): the same float
    reduction order, so the untrained model's masks, whose logits sit near zero, agree pixel for pixel."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def single_run(small_root, tiny_pisa, tmp_path_factory):
    """One uninterrupted single-process run: (OUT, its metrics)."""
    out = tmp_path_factory.mktemp("single")
    assert main(eval_args(small_root, out) + model_args(tiny_pisa)) == 0
    return out, json.loads((out / "metrics.json").read_text())


def test_writes_a_prediction_per_sample_then_scores_them(small_root, tiny_pisa, single_run):
    out, metrics = single_run
    predictions = out / "predictions"
    assert sorted(p.stem for p in predictions.glob("*.png")) == sorted(SMALL_IDS)
    for sample_id in SMALL_IDS:
        prediction = np.array(Image.open(predictions / f"{sample_id}.png"))
        truth = np.array(Image.open(small_root / "test" / "masks" / f"{sample_id}.png"))
        assert prediction.shape == truth.shape
        assert set(np.unique(prediction)) <= {0, 255}
    assert metrics["overall"]["n"] == 6
    # the tiny model's masks differ from sample to sample, so comparing runs means something
    assert len({row["iou"] for row in metrics["per_sample"].values()}) > 1
    assert metrics["missing_predictions"] == []
    assert metrics["run"]["method"] == "pisa"
    assert metrics["run"]["untrained"] is True  # the tiny PISA's provenance.json: trained: false
    assert metrics["run"]["warning"].startswith(f"{tiny_pisa['checkpoint']} is an UNTRAINED PISA")
    assert f"**WARNING: {metrics['run']['warning']}**" in (out / "metrics.md").read_text()
    assert metrics["model"]["answered"] == 6
    answers = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert sorted(record["id"] for record in answers) == sorted(SMALL_IDS)
    assert all(set(record) >= {"answer", "score", "found", "timings", "seconds"}
               for record in answers)
    run_config = json.loads((predictions / "run.json").read_text())
    assert (run_config["kind"], run_config["instruction"], run_config["mode"],
            run_config["dtype"]) == ("pisa", "opa", "teacher_forced", "float32")  # the paper's protocol
    for name in ("metrics.json", "metrics.md", "per_class.png", "qualitative.png"):
        assert (out / name).is_file()


def test_generate_mode_is_one_flag_away(small_root, tiny_pisa, single_run, tmp_path):
    out = tmp_path / "out"
    assert main(eval_args(small_root, out) + ["--limit", "2", "--mode", "generate"] + model_args(tiny_pisa)) == 0
    assert json.loads((out / "predictions" / "run.json").read_text())["mode"] == "generate"
    generated = [json.loads(line)["answer"] for line in (out / "answers.jsonl").read_text().splitlines()]
    forced = [json.loads(line)["answer"] for line in (single_run[0] / "answers.jsonl").read_text().splitlines()]
    # teacher forcing answers the fixed "[SEG]." for every sample; generation writes its own text
    assert set(forced) == {"[SEG] ."} and len(generated) == 2 and "[SEG] ." not in generated


def test_a_checkpoint_marked_trained_gives_no_warning(small_root, tiny_pisa, tmp_path, capsys):
    trained = shutil.copytree(tiny_pisa["checkpoint"], tmp_path / "trained")
    write_provenance(trained, dict(read_provenance(trained), trained=True, made_by="instructpart train"))
    out = tmp_path / "out"
    assert main(eval_args(small_root, out) + ["--limit", "1"] + model_args(dict(tiny_pisa, checkpoint=str(trained)))) == 0
    assert "WARNING" not in capsys.readouterr().err
    run = json.loads((out / "metrics.json").read_text())["run"]
    assert (run["untrained"], run["warning"]) == (False, "")
    assert "WARNING" not in (out / "metrics.md").read_text()


def test_lisa_checkpoint_runs_too(small_root, tmp_path):
    paths = write_tiny_checkpoints(tmp_path / "tiny_lisa", kind="lisa", seed=0)
    out = tmp_path / "out"
    assert main(eval_args(small_root, out) + ["--limit", "2"] + model_args(paths, "lisa")) == 0
    assert len(list((out / "predictions").glob("*.png"))) == 2
    assert json.loads((out / "metrics.json").read_text())["run"]["method"] == "lisa"


class Interrupted(Exception):
    pass


REAL_LOAD_SEGMENTER = instructpart_ros.model.load_segmenter


def spy_on_segment(monkeypatch, interrupt_after=None):
    """Record every segment() call of segmenters from load_segmenter; optionally stop."""
    calls = []

    def load(**kwargs):
        segmenter = REAL_LOAD_SEGMENTER(**kwargs)
        real_segment = segmenter.segment

        def segment(rgb, instruction, mode="generate"):
            if interrupt_after is not None and len(calls) == interrupt_after:
                raise Interrupted("killed mid-run")
            calls.append(instruction)
            return real_segment(rgb, instruction, mode=mode)
        segmenter.segment = segment
        return segmenter
    monkeypatch.setattr(instructpart_ros.model, "load_segmenter", load)
    return calls


def test_resumes_after_interruption_without_redoing_samples(small_root, tiny_pisa, single_run,
                                                            tmp_path, monkeypatch):
    out = tmp_path / "out"
    predictions = out / "predictions"
    first = spy_on_segment(monkeypatch, interrupt_after=3)
    with pytest.raises(Interrupted):
        main(eval_args(small_root, out) + model_args(tiny_pisa))
    assert len(first) == 3
    finished = sorted(predictions.glob("*.png"))
    assert len(finished) == 3
    stamps = {path.name: path.stat().st_mtime_ns for path in finished}
    assert not (out / "metrics.json").exists()

    second = spy_on_segment(monkeypatch)
    assert main(eval_args(small_root, out) + model_args(tiny_pisa)) == 0
    assert len(second) == 3                          # only the unfinished samples
    assert not set(second) & set(first)
    assert {p.name: p.stat().st_mtime_ns for p in finished} == stamps
    assert len(list(predictions.glob("*.png"))) == 6

    third = spy_on_segment(monkeypatch)              # everything done: model not even run
    assert main(eval_args(small_root, out) + model_args(tiny_pisa)) == 0
    assert third == []
    resumed = json.loads((out / "metrics.json").read_text())
    assert resumed["per_sample"] == single_run[1]["per_sample"]


def test_resuming_with_other_settings_is_refused(small_root, tiny_pisa, single_run, capsys):
    out, _ = single_run
    status = main(eval_args(small_root, out, instruction="human") + model_args(tiny_pisa))
    assert status == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (  # after the untrained-PISA warning
        f"instructpart eval: error: {out / 'predictions'} holds predictions from another run "
        "(instruction: was 'opa', now 'human'): pass a new --predictions folder, or delete "
        "this one to start over")


def test_rescoring_a_model_run_keeps_its_instruction(small_root, tiny_pisa, single_run,
                                                     tmp_path, capsys):
    predictions = single_run[0] / "predictions"
    base = ["eval", "--dataset", str(small_root), "--predictions", str(predictions),
            "--out", str(tmp_path / "out")]
    assert main(base + ["--instruction", "human"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"instructpart eval: error: {predictions} holds predictions for --instruction opa "
        "(its run.json), not human: pass --instruction opa")
    assert main(base + ["--instruction", "opa"]) == 0
    # the predictions' run.json names the untrained tiny PISA: its warning comes with the scores
    warning = untrained_warning("pisa", pathlib.Path(tiny_pisa["checkpoint"]).resolve(), {"trained": False})
    assert capsys.readouterr().err.count(f"instructpart eval: WARNING: {warning}") == 1
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert (metrics["run"]["untrained"], metrics["run"]["warning"]) == (True, warning)
    assert metrics["run"]["method"] == "pisa"
    assert metrics["run"]["checkpoint"] == str(pathlib.Path(tiny_pisa["checkpoint"]).resolve())
    assert metrics["per_sample"] == single_run[1]["per_sample"]


def test_torchrun_two_processes_match_one(small_root, tiny_pisa, single_run, tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "instructpart_ros.cli"] + eval_args(small_root, out) + model_args(tiny_pisa),
        capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("pisa on test (6 samples") == 1      # rank 0 alone reports
    assert done.stderr.count("instructpart eval: WARNING: ") == 1  # rank 0 alone warns (untrained PISA)
    for rank in (0, 1):
        lines = (out / "predictions" / f"answers-rank{rank}.jsonl").read_text().splitlines()
        assert len(lines) == 3                                    # each rank did its half
    metrics = json.loads((out / "metrics.json").read_text())
    single = single_run[1]
    assert metrics["overall"] == single["overall"]
    assert metrics["per_sample"] == single["per_sample"]
    assert metrics["per_object"] == single["per_object"]
