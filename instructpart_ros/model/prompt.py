"""The LLaVA-v1 conversation prompt LISA was trained with, as token ids around the image."""
from __future__ import annotations

from dataclasses import dataclass

from .tokenizer import IMAGE_END_TOKEN, IMAGE_PATCH_TOKEN, IMAGE_START_TOKEN, SEG_TOKEN, LisaTokenizer

SYSTEM_MESSAGE = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
IMAGE_PLACEHOLDER = "<image>"
# LISA appends this to every reasoning-segmentation query.
DEFAULT_INSTRUCTION_SUFFIX = "Please output segmentation mask."
# LISA's evaluation forces this answer and reads the [SEG] state from one forward pass.
TEACHER_FORCED_ANSWER = f"{SEG_TOKEN}."
# Text that is the prompt's own markup, never part of a task: the image and its markers, the
# mask token, LLaMA's sentence and unknown tokens, and the conversation's turn markers. An
# instruction holding one would rewrite the prompt (a second image slot, a forged answer).
CONTROL_TOKENS = (
    IMAGE_PLACEHOLDER, IMAGE_PATCH_TOKEN, IMAGE_START_TOKEN, IMAGE_END_TOKEN, SEG_TOKEN,
    "<s>", "</s>", "<unk>", "USER:", "ASSISTANT:",
)


def check_instruction(instruction: str) -> str:
    """Return ``instruction`` if it can go into the prompt, else raise ``ValueError`` saying why.

    The one check for every prompt: the ROS node's topic and service, evaluation and
    training all build their prompts through ``prompt_text``.
    """
    if not isinstance(instruction, str) or not instruction.strip():
        raise ValueError(f"instruction must be a non-empty string, got {instruction!r}: say which part to find")
    found = [token for token in CONTROL_TOKENS if token in instruction]
    if found:
        raise ValueError(
            f"instruction contains the model's control token{'s' if len(found) > 1 else ''} "
            f"{', '.join(repr(token) for token in found)}: these mark the prompt's structure (image, mask "
            "token, turns), not a task; rephrase the instruction without them"
        )
    return instruction


@dataclass(frozen=True)
class PromptIds:
    """Prompt token ids; the image embeddings go between the two lists."""

    before_image: list[int]
    after_image: list[int]


def prompt_text(instruction: str, suffix: str = DEFAULT_INSTRUCTION_SUFFIX, use_im_start_end: bool = True) -> str:
    """The full prompt string with ``<image>`` where the image embeddings go."""
    check_instruction(instruction)
    image = f"{IMAGE_START_TOKEN}{IMAGE_PLACEHOLDER}{IMAGE_END_TOKEN}" if use_im_start_end else IMAGE_PLACEHOLDER
    query = f"{instruction.strip()} {suffix}" if suffix else instruction.strip()
    return f"{SYSTEM_MESSAGE} USER: {image}\n{query} ASSISTANT:"


def build_prompt_ids(
    tokenizer: LisaTokenizer,
    instruction: str,
    suffix: str = DEFAULT_INSTRUCTION_SUFFIX,
    use_im_start_end: bool = True,
) -> PromptIds:
    """Tokenise the prompt the way LISA does: each side of ``<image>`` on its own, ``<s>`` first."""
    before, after = prompt_text(instruction, suffix, use_im_start_end).split(IMAGE_PLACEHOLDER)
    return PromptIds(tokenizer.encode_text(before, add_bos=True), tokenizer.encode_text(after))
