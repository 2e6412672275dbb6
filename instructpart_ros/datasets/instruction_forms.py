"""InstructPart's part-name instruction forms, written from (object, part) and read back.

The four ORPS forms name the part outright::

    op            "handle of the faucet"
    opa           "handle of the faucet that can be lifted"
    op_sentence   "Where is the handle of the faucet in this image?"
    opa_sentence  "Where is the handle of the faucet that can be lifted in this image?"

:func:`parse_part_name` recovers ``(object, part)`` from such an instruction, so a
result can say which part it is about. Task instructions ("If I want to cut the bread,
which part of the knife should I hold?") are not part-name forms and give None: a name
is only reported when the instruction says it.
"""
from __future__ import annotations

import re
from typing import Optional, Tuple

MAX_PART_WORDS = 3
MAX_OBJECT_WORDS = 4
# Words a part or object name never contains: they mark a sentence, not a name
# ("The part of the toilet for covering.").
_NOT_IN_NAMES = frozenset({"the", "a", "an", "part", "for", "to", "with", "which", "where", "in", "on", "of", "that"})
_NAME = r"[A-Za-z][A-Za-z0-9' -]*?"
_AFFORDANCE = r"(?: that can [A-Za-z][A-Za-z -]*?)?"
_FORMS = (
    re.compile(rf"^Where is the (?P<part>{_NAME}) of the (?P<object>{_NAME}){_AFFORDANCE} in this image\?$"),
    re.compile(rf"^(?:the )?(?P<part>{_NAME}) of the (?P<object>{_NAME}){_AFFORDANCE}\.?$", re.IGNORECASE),
)


def part_name_instruction(object_name: str, part_name: str) -> str:
    """The ``op`` form: ``"<part> of the <object>"``."""
    return f"{part_name} of the {object_name}"


def _plain_name(name: str, max_words: int) -> bool:
    words = name.split()
    return 0 < len(words) <= max_words and not _NOT_IN_NAMES.intersection(word.lower() for word in words)


def parse_part_name(instruction: str) -> Optional[Tuple[str, str]]:
    """``(object, part)`` when ``instruction`` is one of the part-name forms, else None."""
    text = " ".join(instruction.split())
    for form in _FORMS:
        match = form.match(text)
        if match and _plain_name(match["part"], MAX_PART_WORDS) and _plain_name(match["object"], MAX_OBJECT_WORDS):
            return match["object"], match["part"]
    return None
