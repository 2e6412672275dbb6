"""LISA's losses, per sample: answer-token cross-entropy, per-pixel BCE and DICE on the mask.

Each is a per-sample mean (tokens of that answer; pixels of that mask at the original
image resolution) and the batch loss is the mean over samples. That makes the loss of a
global batch independent of how it is split over processes and accumulation steps
(LISA averages tokens over its micro-batch instead; the difference is a re-weighting).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .recipe import LossRecipe

DICE_SCALE = 1000.0  # LISA's dice_loss scale and epsilon
DICE_EPS = 1e-6


def mask_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean per-pixel binary cross-entropy of one mask's logits (H, W) against a 0/1 target."""
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())


def mask_dice(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """LISA's DICE loss of one mask: 1 - (2|P∩G| + eps) / (|P| + |G| + eps), soft P = sigmoid."""
    probability = logits.float().sigmoid().flatten()
    target = target.float().flatten()
    numerator = 2 * (probability / DICE_SCALE * target).sum()
    denominator = (probability / DICE_SCALE).sum() + (target / DICE_SCALE).sum()
    return 1 - (numerator + DICE_EPS) / (denominator + DICE_EPS)


def soft_iou(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU of the thresholded mask (no gradient): the target of SAM's IoU head."""
    with torch.no_grad():
        predicted = logits > 0
        target = target.bool()
        union = (predicted | target).sum()
        return torch.where(union > 0, (predicted & target).sum() / union.clamp(min=1), torch.ones(()))


@dataclass
class SampleLosses:
    """One sample's loss terms (unweighted) and its weighted total."""

    ce: torch.Tensor
    bce: torch.Tensor
    dice: torch.Tensor
    iou: torch.Tensor
    total: torch.Tensor


def sample_losses(answer_logits: torch.Tensor, answer_ids: torch.Tensor, mask_logits: torch.Tensor,
                  mask: torch.Tensor, predicted_iou: torch.Tensor, weights: LossRecipe) -> SampleLosses:
    """The weighted loss of one sample."""
    ce = F.cross_entropy(answer_logits.float(), answer_ids)
    bce = mask_bce(mask_logits, mask)
    dice = mask_dice(mask_logits, mask)
    iou = F.mse_loss(predicted_iou.float().reshape(()), soft_iou(mask_logits, mask).to(predicted_iou.device))
    total = weights.ce * ce + weights.bce * bce + weights.dice * dice
    if weights.iou:
        total = total + weights.iou * iou
    return SampleLosses(ce, bce, dice, iou, total)


def batch_mean(losses: list[SampleLosses]) -> dict[str, torch.Tensor]:
    """Mean of each term over the samples (``total`` keeps its graph)."""
    return {name: torch.stack([getattr(l, name) for l in losses]).mean()
            for name in ("total", "ce", "bce", "dice", "iou")}
