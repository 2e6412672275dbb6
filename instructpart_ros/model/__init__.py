"""PISA and LISA part segmentation models built from transformers blocks.

Public API::

    from instructpart_ros.model import load_segmenter
    segmenter = load_segmenter(kind="pisa", checkpoint=DIR, vision_tower=CLIP_DIR, dinov2=DINO_DIR)
    result = segmenter.segment(rgb, "Which part of the knife should I hold to cut?")
"""
from .segmenter import PartSegmenter, SegmentationResult, load_segmenter

__all__ = ["PartSegmenter", "SegmentationResult", "load_segmenter"]
