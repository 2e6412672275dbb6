"""The package's one model API: ``load_segmenter`` -> ``PartSegmenter.segment(rgb, instruction)``."""
from __future__ import annotations

import gc
import pathlib
from dataclasses import dataclass, field

import numpy as np
import torch

from .clip_preprocessing import clip_pixels
from .image_preprocessing import PreprocessedImage, check_rgb_image, postprocess_masks
from .lisa_checkpoint import load_lisa
from .module_loading import resolve_device, resolve_dtype
from .part_model import KINDS, LoadedModel, PartSegmentationModel
from .pisa_checkpoint import load_pisa
from .prompt import DEFAULT_INSTRUCTION_SUFFIX, TEACHER_FORCED_ANSWER, build_prompt_ids
from .provenance import untrained_warning
from .timing import StageTimer

MODES = ("generate", "teacher_forced")


@dataclass
class SegmentationResult:
    """One query's answer.

    mask: bool (H, W), exactly the input image's size; empty when ``found`` is False.
    score: the mask decoder's predicted IoU clipped to [0, 1] (0.0 when not found).
    answer: the model's text (the forced answer in teacher-forced mode).
    found: whether ``[SEG]`` was emitted; ``reason`` says why not ("" when found).
    timings: milliseconds per stage (preprocess, clip, llm_prefill, llm_decode,
        image_encoder, mask_decoder, postprocess, total).
    prompt_embedding: the (1, 256) float32 CPU [SEG] prompt, or None when not found.
    """

    mask: np.ndarray
    score: float
    answer: str
    found: bool
    reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    prompt_embedding: torch.Tensor | None = None


class PartSegmenter:
    """Instruction + RGB image -> mask of the part to grasp (LISA or PISA)."""

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        instruction_suffix: str = DEFAULT_INSTRUCTION_SUFFIX,
        max_new_tokens: int = 64,
        stop_at_seg: bool = False,
        teacher_forced_answer: str = TEACHER_FORCED_ANSWER,
    ):
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        self._model: PartSegmentationModel | None = loaded.model.eval()
        self.tokenizer = loaded.tokenizer
        self.clip_processor = loaded.clip_processor
        self.use_im_start_end = loaded.use_im_start_end
        self.source: pathlib.Path = loaded.source
        self.kind = loaded.model.kind
        self.provenance = loaded.provenance
        # Shown by whoever serves this model (node, eval, demo): an untrained PISA gives noise.
        self.warning = untrained_warning(self.kind, self.source, loaded.provenance)
        self.instruction_suffix = instruction_suffix
        self.max_new_tokens = max_new_tokens
        self.stop_at_seg = stop_at_seg
        self.teacher_forced_ids = self.tokenizer.encode_text(teacher_forced_answer) + [self.tokenizer.eos_token_id]
        if self.tokenizer.seg_token_id not in self.teacher_forced_ids:
            raise ValueError(f"teacher_forced_answer={teacher_forced_answer!r} must contain [SEG]")
        weight = loaded.model.mllm.mm_projector.weight
        self.device, self.dtype = weight.device, weight.dtype

    @property
    def model(self) -> PartSegmentationModel:
        if self._model is None:
            raise RuntimeError("this segmenter was released: create a new one with load_segmenter(...)")
        return self._model

    def segment(self, rgb: np.ndarray, instruction: str, mode: str = "generate") -> SegmentationResult:
        """Mask of the part ``instruction`` asks for in ``rgb`` (HxWx3 uint8 RGB).

        ``mode="generate"``: greedy decoding with a KV cache; no [SEG] -> empty mask.
        ``mode="teacher_forced"``: LISA's evaluation, the answer forced to "[SEG]." in one pass.
        """
        if mode not in MODES:
            raise ValueError(f"mode={mode!r} is not one of {MODES}")
        check_rgb_image(rgb)
        timer = StageTimer(self.device)
        with torch.inference_mode(), timer.stage("total"):
            result = self._segment(rgb, instruction, mode, timer)
        result.timings = dict(timer.timings)
        return result

    def _segment(self, rgb: np.ndarray, instruction: str, mode: str, timer: StageTimer) -> SegmentationResult:
        model = self.model
        with timer.stage("preprocess"):
            prompt = build_prompt_ids(self.tokenizer, instruction, self.instruction_suffix, self.use_im_start_end)
            pixels = clip_pixels(rgb, self.clip_processor, self.device)
            pre = model.image_encoder.preprocess(rgb)
        with timer.stage("clip"):
            inputs = model.mllm.prompt_embeddings(prompt, model.mllm.encode_image(pixels))
        if mode == "generate":
            generated = model.mllm.generate(inputs, self.max_new_tokens, self.stop_at_seg, timer)
            answer_ids, seg_hidden = generated.token_ids, generated.seg_hidden
            reason = "" if seg_hidden is not None else self._no_seg_reason(generated.stop_reason)
        else:
            answer_ids = self.teacher_forced_ids
            seg_hidden, reason = model.mllm.teacher_forced(inputs, answer_ids, timer), ""
        answer = self.tokenizer.decode_text(answer_ids)
        if seg_hidden is None:
            return SegmentationResult(np.zeros(rgb.shape[:2], dtype=bool), 0.0, answer, False, reason)
        with timer.stage("mask_decoder"):
            prompt_embedding = model.mllm.seg_prompt(seg_hidden)
        mask, score = self._decode_mask(pre, prompt_embedding, timer)
        return SegmentationResult(mask, score, answer, True, "", prompt_embedding=prompt_embedding.float().cpu())

    def _no_seg_reason(self, stop_reason: str) -> str:
        if stop_reason == "limit":
            return f"no [SEG] within the {self.max_new_tokens}-token limit"
        return "the model answered without [SEG]"

    def segment_with_prompt(self, rgb: np.ndarray, prompt_embedding: torch.Tensor) -> SegmentationResult:
        """Mask for a cached [SEG] ``prompt_embedding`` (from an earlier result) on a new frame; no LLM run."""
        check_rgb_image(rgb)
        out_dim = self.model.mllm.out_dim
        if not isinstance(prompt_embedding, torch.Tensor) or prompt_embedding.numel() != out_dim:
            given = tuple(prompt_embedding.shape) if isinstance(prompt_embedding, torch.Tensor) else prompt_embedding
            raise ValueError(
                f"prompt_embedding must be a (1, {out_dim}) tensor (SegmentationResult.prompt_embedding), got {given!r}"
            )
        timer = StageTimer(self.device)
        with torch.inference_mode(), timer.stage("total"):
            with timer.stage("preprocess"):
                pre = self.model.image_encoder.preprocess(rgb)
            embedding = prompt_embedding.reshape(1, out_dim)
            mask, score = self._decode_mask(pre, embedding.to(self.device, self.dtype), timer)
        return SegmentationResult(mask, score, "", True, "", dict(timer.timings), embedding.float().cpu())

    def _decode_mask(
        self, pre: PreprocessedImage, prompt_embedding: torch.Tensor, timer: StageTimer
    ) -> tuple[np.ndarray, float]:
        model = self.model
        with timer.stage("image_encoder"):
            image_embeddings = model.image_encoder(pre.pixel_values)
        with timer.stage("mask_decoder"):
            low_res_logits, iou_scores = model.mask_decoder(image_embeddings, prompt_embedding[:, None, :])
        with timer.stage("postprocess"):
            mask = (postprocess_masks(low_res_logits, pre)[0, 0] > 0).cpu().numpy()
            score = float(iou_scores[0, 0].float().clamp(0.0, 1.0))
        return mask, score

    def release(self) -> None:
        """Free the model and its GPU memory (e.g. on ROS lifecycle deactivate); later calls raise."""
        self._model = None
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def load_segmenter(
    kind: str = "pisa",
    checkpoint: str | pathlib.Path | None = None,
    vision_tower: str | pathlib.Path | None = None,
    dinov2: str | pathlib.Path | None = None,
    device: str | torch.device = "cuda",
    dtype: str | torch.dtype = "bfloat16",
    **options,
) -> PartSegmenter:
    """Load a LISA or PISA segmenter from local directories.

    ``checkpoint``: the LISA-7B-v1 directory (``kind="lisa"``) or a PISA directory
    (``kind="pisa"``). ``vision_tower``: CLIP ViT-L/14; ``dinov2``: DINOv2 (PISA only);
    both default to what the checkpoint's config.json names, which must then be a local
    directory. ``options`` go to :class:`PartSegmenter` (``instruction_suffix``,
    ``max_new_tokens``, ``stop_at_seg``, ``teacher_forced_answer``).
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not one of {KINDS}")
    torch_device, torch_dtype = resolve_device(device), resolve_dtype(dtype)
    if kind == "lisa":
        loaded = load_lisa(checkpoint, vision_tower, torch_device, torch_dtype)
    else:
        loaded = load_pisa(checkpoint, vision_tower, dinov2, torch_device, torch_dtype)
    return PartSegmenter(loaded, **options)
