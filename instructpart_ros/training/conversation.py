"""LISA's training conversations: a question about the image, an answer holding ``[SEG]``.

Questions and answers follow dvlab-research/LISA (``utils/utils.py``): a sentence
instruction becomes ``"{sent} Please respond/output segmentation mask."``, a part name
(``op``/``opa``) one of the short "segment the {class_name}" questions, and the answer is
one of four "Sure, [SEG]." variants. ``question_style="inference"`` trains only on the
exact prompt inference uses. Prompt and answer ids come from the same functions as
inference (:func:`build_prompt_ids`), so the ``[SEG]`` state is read identically.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from instructpart_ros.model.prompt import DEFAULT_INSTRUCTION_SUFFIX, PromptIds, build_prompt_ids
from instructpart_ros.model.tokenizer import SEG_TOKEN, LisaTokenizer

SENTENCE_QUESTIONS = (
    "{sent} Please respond with segmentation mask.",
    "{sent} Please output segmentation mask.",
)
PART_NAME_QUESTIONS = (
    "Can you segment the {class_name} in this image?",
    "Please segment the {class_name} in this image.",
    "What is {class_name} in this image? Please respond with segmentation mask.",
    "What is {class_name} in this image? Please output segmentation mask.",
)
ANSWERS = (
    f"It is {SEG_TOKEN}.",
    f"Sure, {SEG_TOKEN}.",
    f"Sure, it is {SEG_TOKEN}.",
    f"Sure, the segmentation result is {SEG_TOKEN}.",
)
# InstructPart's noun-phrase instructions ("handle of the kettle"); the others are sentences.
PART_NAME_INSTRUCTIONS = ("op", "opa")


@dataclass(frozen=True)
class Conversation:
    """One training query: prompt ids around the image, the answer ids (ending in ``</s>``)."""

    prompt: PromptIds
    answer_ids: list[int]
    question: str
    answer: str


def question_text(instruction: str, variant: str, style: str, rng: random.Random) -> str:
    """The user's question for ``instruction`` of InstructPart ``variant``; the suffix included."""
    if style == "inference":
        return f"{instruction.strip()} {DEFAULT_INSTRUCTION_SUFFIX}"
    if variant in PART_NAME_INSTRUCTIONS:
        return rng.choice(PART_NAME_QUESTIONS).format(class_name=instruction.strip())
    return rng.choice(SENTENCE_QUESTIONS).format(sent=instruction.strip())


def build_conversation(tokenizer: LisaTokenizer, instruction: str, variant: str, style: str,
                       rng: random.Random, use_im_start_end: bool = True) -> Conversation:
    """Token ids of one training conversation, drawn with ``rng`` (LISA's templates)."""
    question = question_text(instruction, variant, style, rng)
    answer = ANSWERS[1] if style == "inference" else rng.choice(ANSWERS)
    prompt = build_prompt_ids(tokenizer, question, suffix="", use_im_start_end=use_im_start_end)
    answer_ids = tokenizer.encode_text(answer) + [tokenizer.eos_token_id]
    return Conversation(prompt, answer_ids, question, answer)
