"""InstructPart evaluation without ROS: dataset reader, the paper's metrics, reports.

Scoring needs only NumPy and image files; torch is imported only to run a model
(``instructpart eval --checkpoint``). See docs/evaluation.md.
"""
from .dataset import (INSTRUCTION_NAMES, DatasetError, InstructPartSample, TabletopTask,
                      load_split, load_tabletop_tasks)
from .evaluate import evaluate_predictions
from .metrics import MaskCounts, mask_counts, segmentation_metrics, summarize
from .scoring import PredictionError, score_predictions

__all__ = [
    "INSTRUCTION_NAMES", "DatasetError", "InstructPartSample", "TabletopTask", "load_split",
    "load_tabletop_tasks", "evaluate_predictions", "MaskCounts", "mask_counts",
    "segmentation_metrics", "summarize", "PredictionError", "score_predictions",
]
