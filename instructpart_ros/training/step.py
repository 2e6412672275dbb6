"""The trainable forward pass: a batch of (image, conversation, mask) -> LISA's losses.

It runs the same pieces as inference, in the same order: CLIP features spliced into the
prompt, one teacher-forced LLM pass (:meth:`MultimodalLLM.teacher_forced_batch`, which
evaluation's teacher-forced mode also uses), the ``[SEG]`` state through
``text_hidden_fcs``, the image encoder's own ``preprocess`` and the mask decoder, and
the mask logits resized back to each image's original size before they are compared.
"""
from __future__ import annotations

import torch
from torch import nn

from instructpart_ros.model.image_preprocessing import postprocess_masks
from instructpart_ros.model.part_model import PartSegmentationModel

from .data import TrainingBatch
from .losses import batch_mean, sample_losses
from .recipe import LossRecipe


class SegmentationTraining(nn.Module):
    """Wraps a :class:`PartSegmentationModel` so that ``forward(batch)`` returns the losses
    (a module, so DDP and FSDP can wrap it)."""

    def __init__(self, model: PartSegmentationModel, loss: LossRecipe):
        super().__init__()
        self.model = model
        self.loss = loss

    @property
    def device(self) -> torch.device:
        return self.model.mllm.mm_projector.weight.device

    def forward(self, batch: TrainingBatch) -> dict[str, torch.Tensor]:
        model, mllm, device = self.model, self.model.mllm, self.device
        features = mllm.encode_image(batch.clip_pixels.to(device))
        prompts = [mllm.prompt_embeddings(prompt, features[i : i + 1]) for i, prompt in enumerate(batch.prompts)]
        output = mllm.teacher_forced_batch(prompts, batch.answers)
        answer_logits = mllm.answer_logits(output, batch.answers)
        seg_prompts = mllm.seg_prompt(output.seg_hidden)
        preprocessed = [model.image_encoder.preprocess(rgb) for rgb in batch.rgbs]
        embeddings = model.image_encoder(torch.cat([pre.pixel_values for pre in preprocessed]))
        low_res, iou = model.mask_decoder(embeddings, seg_prompts[:, None, :])
        losses = []
        for index, pre in enumerate(preprocessed):
            mask_logits = postprocess_masks(low_res[index : index + 1], pre)[0, 0]
            target = torch.from_numpy(batch.masks[index]).to(device)
            answer = torch.tensor(batch.answers[index], device=device)
            losses.append(sample_losses(answer_logits[index], answer, mask_logits, target, iou[index, 0], self.loss))
        return batch_mean(losses)
