"""Helpers of the replay tests: a perception node whose model is a stub, and reading reports.

The stub replaces ``instructpart_ros.model`` inside the node's process (``python_prelude``)
with a package whose ``load_segmenter`` is the stub's and whose submodules are the real ones,
so the node starts without loading a model in about a second. It answers each instruction with the
mask the test chose for it: the union of the listed mask files, or nothing. Every answer
first sleeps for the seconds written in ``delay_file`` (0 when absent), so a test can make
the model slower than the camera while the node runs.
"""
from __future__ import annotations

import json
import os
import pathlib
from typing import Dict, List, Optional

STUB_PRELUDE = '''
import importlib.util, json, pathlib, sys, time, types
import cv2, numpy as np

CHOICES = json.loads({choices!r})   # instruction -> list of mask files (empty: nothing found)
DEFAULT = {default!r}               # mask files for any other instruction (None: nothing found)
DELAY_FILE = pathlib.Path({delay_file!r})

class Result:
    def __init__(self, mask, found):
        self.mask, self.found, self.score = mask, found, 0.9 if found else 0.0
        self.answer = "[SEG]" if found else "no part"
        self.reason = "" if found else "the stub found nothing"
        self.prompt_embedding = None
        self.timings = {{}}

class StubSegmenter:
    warning = ""  # what a real segmenter says about an untrained checkpoint

    def _mask(self, rgb, files):
        mask = np.zeros(rgb.shape[:2], dtype=bool)
        for name in files or ():
            mask |= cv2.imread(name, cv2.IMREAD_GRAYSCALE) > 0
        return mask

    def _delay(self):
        if DELAY_FILE.is_file():
            time.sleep(float(DELAY_FILE.read_text() or 0))

    def segment(self, rgb, instruction, mode="generate"):
        self._delay()
        files = CHOICES.get(instruction, DEFAULT)
        result = Result(self._mask(rgb, files), bool(files))
        result.prompt_embedding = instruction if files else None  # the node caches it for the next frames
        return result

    def segment_with_prompt(self, rgb, instruction):
        self._delay()
        files = CHOICES.get(instruction, DEFAULT)
        return Result(self._mask(rgb, files), bool(files))

    def release(self):
        pass

# A package like the real one, so the node's imports of its submodules (the prompt's
# instruction check) load the real code; only load_segmenter is the stub's.
model = types.ModuleType("instructpart_ros.model")
model.__path__ = list(importlib.util.find_spec("instructpart_ros.model").submodule_search_locations)
model.load_segmenter = lambda **kwargs: StubSegmenter()
sys.modules["instructpart_ros.model"] = model
'''
STUB_PARAMETERS = dict(model_kind="pisa", model_checkpoint="stub-model", model_device="cpu", model_dtype="float32")


def stub_prelude(choices: Dict[str, List[str]], default: Optional[List[str]] = None,
                 delay_file: pathlib.Path = pathlib.Path("/nonexistent")) -> str:
    """Python for ``NodeProcess(python_prelude=...)``: the stub model described in the module docstring."""
    return STUB_PRELUDE.format(choices=json.dumps({k: [str(f) for f in v] for k, v in choices.items()}),
                               default=[str(f) for f in default] if default is not None else None,
                               delay_file=str(delay_file))


def replay_domain(offset: int) -> str:
    """A ROS_DOMAIN_ID for one replay test module, in 201-231 (the other suites use 1-200), so the
    modules of one run and the suites of other checkouts on this host do not meet."""
    return str(201 + (os.getpid() + offset) % 31)


def read_log(out: pathlib.Path) -> List[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]


def metrics_of(out: pathlib.Path) -> dict:
    return json.loads((out / "metrics.json").read_text())
