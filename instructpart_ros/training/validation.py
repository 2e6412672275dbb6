"""Validation during training: the evaluation's own inference path and metrics on a held-out split.

Each process predicts its share of the samples with :class:`PartSegmenter` in
teacher-forced mode (LISA's ``validate()``), so validation measures exactly what
``instructpart eval`` will; the pixel counts are gathered and summarised with the
paper's metrics (gIoU, cIoU, P@50, P@50:95).
"""
from __future__ import annotations

import torch.distributed as dist

from instructpart_ros.evaluation.dataset import InstructPartSample, read_rgb
from instructpart_ros.evaluation.metrics import MaskCounts, mask_counts, summarize
from instructpart_ros.evaluation.scoring import read_binary_mask
from instructpart_ros.model.part_model import LoadedModel, PartSegmentationModel
from instructpart_ros.model.segmenter import PartSegmenter


def validate(model: PartSegmentationModel, loaded: LoadedModel, samples: list[InstructPartSample],
             instruction: str, rank: int = 0, world_size: int = 1) -> dict:
    """``{"n", "giou", "ciou", "p50", "p50_95"}`` of ``model`` on ``samples`` (every rank calls this)."""
    was_training = model.training
    record = LoadedModel(model, loaded.tokenizer, loaded.clip_processor, loaded.use_im_start_end, loaded.source,
                         loaded.vision_tower, loaded.dinov2)
    segmenter = PartSegmenter(record)
    # Every rank runs the same number of passes (FSDP gathers weights collectively): pad with repeats.
    per_rank = -(-len(samples) // world_size)
    mine: list[tuple[int, MaskCounts]] = []
    try:
        for slot in range(per_rank):
            index = slot * world_size + rank
            sample = samples[index % len(samples)]
            result = segmenter.segment(read_rgb(sample), sample.instruction(instruction), mode="teacher_forced")
            if index < len(samples):
                mine.append((index, mask_counts(result.mask, read_binary_mask(sample.mask_path))))
    finally:
        model.train(was_training)
    gathered = [mine]
    if world_size > 1:
        gathered = [None] * world_size
        dist.all_gather_object(gathered, mine)
    counts = dict(pair for part in gathered for pair in part)
    return summarize([counts[i] for i in sorted(counts)])

