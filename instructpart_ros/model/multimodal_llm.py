"""LISA's language side: CLIP tower -> projector -> LLaMA -> [SEG] hidden state -> SAM prompt.

Built from transformers' ``CLIPVisionModel`` and ``LlamaForCausalLM``; only the glue
(image embeddings spliced into the prompt, greedy decoding with a KV cache, the
[SEG] read-out) lives here.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import CLIPVisionModel, DynamicCache, LlamaForCausalLM

from .prompt import PromptIds
from .timing import StageTimer


@dataclass
class GenerationOutput:
    """What greedy decoding produced.

    ``seg_hidden`` is the final-layer, post-norm hidden state of the token *before* the
    first ``[SEG]`` (the state that predicted it: LISA's one-token offset), or None.
    """

    token_ids: list[int]
    seg_hidden: torch.Tensor | None
    stop_reason: str  # "eos", "seg" or "limit"


@dataclass
class TeacherForcedOutput:
    """A teacher-forced pass: final post-norm hidden states (B, L, hidden), right-padded; the
    state that predicts each sequence's first [SEG] (B, hidden); each prompt's length."""

    hidden: torch.Tensor
    seg_hidden: torch.Tensor
    prompt_lengths: list[int]


def seg_state_position(prompt_length: int, answer_ids: list[int], seg_token_id: int) -> int:
    """Index of the hidden state read as [SEG]'s: the one *before* the first [SEG] of an answer that
    follows a prompt of ``prompt_length`` tokens (LISA's one-token offset; generation reads the same)."""
    return prompt_length + answer_ids.index(seg_token_id) - 1


def text_hidden_projection(hidden_size: int, out_dim: int) -> nn.ModuleList:
    """LISA's ``text_hidden_fcs``: a ModuleList holding one Linear-ReLU-Linear-Dropout(0)."""
    return nn.ModuleList(
        [
            nn.Sequential(
                nn.Linear(hidden_size, hidden_size),
                nn.ReLU(inplace=True),
                nn.Linear(hidden_size, out_dim),
                nn.Dropout(0.0),
            )
        ]
    )


class MultimodalLLM(nn.Module):
    """CLIP features + LLaMA that answers with ``[SEG]`` and turns its state into a SAM prompt."""

    def __init__(
        self,
        vision_tower: CLIPVisionModel,
        language_model: LlamaForCausalLM,
        seg_token_id: int,
        eos_token_id: int,
        out_dim: int = 256,
        vision_select_layer: int = -2,
    ):
        super().__init__()
        vocab_size = language_model.config.vocab_size
        for name, token_id in (("seg_token_id", seg_token_id), ("eos_token_id", eos_token_id)):
            if not 0 <= token_id < vocab_size:
                raise ValueError(f"{name}={token_id} is outside the LLM's vocabulary of {vocab_size}")
        self.vision_tower = vision_tower.eval().requires_grad_(False)
        self.mm_projector = nn.Linear(vision_tower.config.hidden_size, language_model.config.hidden_size)
        self.language_model = language_model
        self.text_hidden_fcs = text_hidden_projection(language_model.config.hidden_size, out_dim)
        self.seg_token_id = seg_token_id
        self.eos_token_id = eos_token_id
        self.vision_select_layer = vision_select_layer

    @property
    def out_dim(self) -> int:
        return self.text_hidden_fcs[0][2].out_features

    def encode_image(self, clip_pixel_values: torch.Tensor) -> torch.Tensor:
        """(B,3,224,224) CLIP pixels -> (B, patches, llm_hidden): layer ``vision_select_layer``, no CLS."""
        pixels = clip_pixel_values.to(device=self.mm_projector.weight.device, dtype=self.vision_tower.dtype)
        outputs = self.vision_tower(pixel_values=pixels, output_hidden_states=True)
        features = outputs.hidden_states[self.vision_select_layer][:, 1:]
        return self.mm_projector(features.to(self.mm_projector.weight.dtype))

    def embed_tokens(self, token_ids: list[int]) -> torch.Tensor:
        embeddings = self.language_model.get_input_embeddings()
        ids = torch.tensor([token_ids], dtype=torch.long, device=embeddings.weight.device)
        return embeddings(ids)

    def prompt_embeddings(self, prompt: PromptIds, image_embeddings: torch.Tensor) -> torch.Tensor:
        """(1, L, hidden): prompt tokens with the image embeddings in the image's place."""
        return torch.cat(
            [self.embed_tokens(prompt.before_image), image_embeddings, self.embed_tokens(prompt.after_image)], dim=1
        )

    def _next_token(self, hidden: torch.Tensor) -> int:
        return int(self.language_model.lm_head(hidden).argmax(dim=-1))

    @torch.inference_mode()
    def generate(
        self,
        inputs_embeds: torch.Tensor,
        max_new_tokens: int = 64,
        stop_at_seg: bool = False,
        timer: StageTimer | None = None,
    ) -> GenerationOutput:
        """Greedy decoding with a KV cache until ``</s>``, the token limit (or the first [SEG])."""
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        timer = timer or StageTimer(inputs_embeds.device)
        llm = self.language_model.model
        cache = DynamicCache(config=self.language_model.config)
        with timer.stage("llm_prefill"):
            hidden = llm(inputs_embeds=inputs_embeds, past_key_values=cache, use_cache=True).last_hidden_state[:, -1]
            next_id = self._next_token(hidden)
        tokens: list[int] = []
        seg_hidden = None
        while True:
            if next_id == self.eos_token_id:
                return GenerationOutput(tokens, seg_hidden, "eos")
            tokens.append(next_id)
            if next_id == self.seg_token_id and seg_hidden is None:
                seg_hidden = hidden
                if stop_at_seg:
                    return GenerationOutput(tokens, seg_hidden, "seg")
            if len(tokens) >= max_new_tokens:
                return GenerationOutput(tokens, seg_hidden, "limit")
            with timer.stage("llm_decode"):
                step_ids = torch.tensor([[next_id]], device=inputs_embeds.device)
                hidden = llm(input_ids=step_ids, past_key_values=cache, use_cache=True).last_hidden_state[:, -1]
                next_id = self._next_token(hidden)

    def teacher_forced_batch(self, prompts: list[torch.Tensor], answers: list[list[int]]) -> TeacherForcedOutput:
        """One forward pass over each prompt followed by its forced answer (training and evaluation).

        ``prompts``: (1, L_i, hidden) prompt embeddings (see :meth:`prompt_embeddings`);
        ``answers``: the answer token ids each one is followed by, each holding a [SEG].
        Sequences are right-padded into one batch; the [SEG] state is read with LISA's
        one-token offset (:func:`seg_state_position`). Gradients flow unless the caller
        disables them.
        """
        if len(prompts) != len(answers) or not prompts:
            raise ValueError(f"need one answer per prompt, got {len(prompts)} prompts and {len(answers)} answers")
        for answer_ids in answers:
            if self.seg_token_id not in answer_ids:
                raise ValueError(f"the forced answer {answer_ids} holds no [SEG] (id {self.seg_token_id})")
        sequences = [torch.cat([prompt[0], self.embed_tokens(ids)[0]], dim=0) for prompt, ids in zip(prompts, answers)]
        lengths = [len(sequence) for sequence in sequences]
        longest = max(lengths)
        inputs = torch.nn.utils.rnn.pad_sequence(sequences, batch_first=True)
        mask = None
        if min(lengths) != longest:
            positions = torch.arange(longest, device=inputs.device)
            mask = (positions[None, :] < torch.tensor(lengths, device=inputs.device)[:, None]).long()
        hidden = self.language_model.model(inputs_embeds=inputs, attention_mask=mask, use_cache=False).last_hidden_state
        prompt_lengths = [prompt.shape[1] for prompt in prompts]
        rows = torch.arange(len(prompts), device=hidden.device)
        seg_positions = torch.tensor(
            [seg_state_position(length, ids, self.seg_token_id) for length, ids in zip(prompt_lengths, answers)],
            device=hidden.device,
        )
        return TeacherForcedOutput(hidden, hidden[rows, seg_positions], prompt_lengths)

    def answer_logits(self, output: TeacherForcedOutput, answers: list[list[int]]) -> list[torch.Tensor]:
        """Per sequence, the (len(answer), vocab) logits that predict its answer tokens.

        Only those rows go through ``lm_head`` (a 32k-word head over the whole prompt would
        cost more memory than the rest of the step).
        """
        head = self.language_model.lm_head
        return [
            head(output.hidden[index, length - 1 : length - 1 + len(ids)])
            for index, (length, ids) in enumerate(zip(output.prompt_lengths, answers))
        ]

    @torch.inference_mode()
    def teacher_forced(
        self, inputs_embeds: torch.Tensor, answer_ids: list[int], timer: StageTimer | None = None
    ) -> torch.Tensor:
        """One forward pass over prompt + forced answer; the state before its first [SEG] (1, hidden)."""
        timer = timer or StageTimer(inputs_embeds.device)
        with timer.stage("llm_prefill"):
            return self.teacher_forced_batch([inputs_embeds], [answer_ids]).seg_hidden

    def seg_prompt(self, seg_hidden: torch.Tensor) -> torch.Tensor:
        """(1, hidden) [SEG] state -> (1, out_dim) sparse prompt embedding for the mask decoder."""
        return self.text_hidden_fcs[0](seg_hidden)
