"""Writing predictions resumably, with a stand-in segmenter (the real model: test_cli_eval)."""
import json
from dataclasses import dataclass, field

import numpy as np
import pytest
from PIL import Image

from instructpart_ros.evaluation.dataset import load_split
from instructpart_ros.evaluation.distributed import ProcessGroup, process_group_from_env
from instructpart_ros.evaluation.prediction import (check_run_config, pending_samples,
                                                    predict_samples, read_answers,
                                                    write_run_config)
from instructpart_ros.evaluation.scoring import PredictionError
from test_evaluation_support import write_small_dataset


@dataclass
class Result:
    mask: np.ndarray
    score: float = 0.75
    answer: str = "It is [SEG]."
    found: bool = True
    reason: str = ""
    timings: dict = field(default_factory=lambda: {"total_s": 0.01})


class LeftHalf:
    """Segments the left half of every image; can fail on its n-th call."""

    def __init__(self, fail_on_call=None):
        self.instructions, self.fail_on_call = [], fail_on_call

    def segment(self, rgb, instruction, mode="generate"):
        if len(self.instructions) + 1 == self.fail_on_call:
            raise KeyboardInterrupt("killed")
        self.instructions.append((instruction, mode))
        mask = np.zeros(rgb.shape[:2], bool)
        mask[:, : rgb.shape[1] // 2] = True
        return Result(mask)


@pytest.fixture()
def samples(instructpart_root, tmp_path):
    return load_split(write_small_dataset(instructpart_root, tmp_path / "data"), "test")


def test_writes_one_mono8_mask_per_sample(samples, tmp_path):
    segmenter = LeftHalf()
    stats = predict_samples(segmenter, samples, tmp_path / "pred", "opa", mode="teacher_forced")
    assert (stats.written, stats.skipped) == (6, 0)
    assert segmenter.instructions == [(s.instruction("opa"), "teacher_forced") for s in samples]
    for sample in samples:
        mask = np.array(Image.open(tmp_path / "pred" / f"{sample.id}.png"))
        assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 255}
        assert mask.shape == np.array(Image.open(sample.mask_path)).shape
        assert (mask[:, : mask.shape[1] // 2] == 255).all()
    answers = read_answers(tmp_path / "pred")
    assert sorted(answers) == [s.id for s in samples]
    record = answers[samples[0].id]
    assert (record["answer"], record["score"], record["found"], record["timings"]) == \
        ("It is [SEG].", 0.75, True, {"total_s": 0.01})
    assert record["seconds"] >= 0
    assert list((tmp_path / "pred").glob("*.tmp")) == []


def test_resumes_after_an_interruption_without_redoing_samples(samples, tmp_path):
    predictions = tmp_path / "pred"
    with pytest.raises(KeyboardInterrupt):
        predict_samples(LeftHalf(fail_on_call=4), samples, predictions, "human")
    done = sorted(p.name for p in predictions.glob("*.png"))
    assert done == [f"{s.id}.png" for s in samples[:3]]
    stamps = {name: (predictions / name).stat().st_mtime_ns for name in done}
    assert [s.id for s in pending_samples(samples, predictions)] == [s.id for s in samples[3:]]

    segmenter = LeftHalf()
    stats = predict_samples(segmenter, samples, predictions, "human")
    assert (stats.written, stats.skipped) == (3, 3)
    assert [text for text, _ in segmenter.instructions] == \
        [s.instruction("human") for s in samples[3:]]
    assert {name: (predictions / name).stat().st_mtime_ns for name in done} == stamps
    assert len(list(predictions.glob("*.png"))) == 6


def test_cut_short_answer_lines_are_skipped(tmp_path):
    (tmp_path / "answers-rank0.jsonl").write_text('{"id": "a", "answer": "x"}\n{"id": "b", "ans')
    (tmp_path / "answers-rank1.jsonl").write_text('{"id": "c", "answer": "y"}\n')
    assert sorted(read_answers(tmp_path)) == ["a", "c"]


def test_mask_of_the_wrong_shape_is_refused(samples, tmp_path):
    class Tiny:
        def segment(self, rgb, instruction, mode="generate"):
            return Result(np.zeros((4, 4), bool))
    with pytest.raises(PredictionError, match=rf"sample {samples[0].id}: the segmenter returned "
                                              r"a mask of shape \(4, 4\) for an image of shape"):
        predict_samples(Tiny(), samples, tmp_path, "human")
    assert list(tmp_path.glob("*.png")) == []


def test_run_config_guards_against_mixing_runs(tmp_path):
    config = {"kind": "pisa", "instruction": "human", "mode": "generate"}
    check_run_config(tmp_path, config)           # nothing recorded yet
    write_run_config(tmp_path, config)
    check_run_config(tmp_path, dict(config))     # same run: fine
    with pytest.raises(ValueError) as error:
        check_run_config(tmp_path, {**config, "instruction": "gpt"})
    assert str(error.value) == (f"{tmp_path} holds predictions from another run (instruction: "
                                "was 'human', now 'gpt'): pass a new --predictions folder, or "
                                "delete this one to start over")
    assert json.loads((tmp_path / "run.json").read_text()) == config


def test_shards_cover_every_sample_once(monkeypatch):
    items = list(range(11))
    shards = [ProcessGroup(rank, 3).shard(items) for rank in range(3)]
    assert shards == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8]]
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert process_group_from_env() == ProcessGroup(2, 4, 1)
    monkeypatch.setenv("RANK", "two")
    with pytest.raises(ValueError, match="environment variable RANK='two' must be an integer"):
        process_group_from_env()
