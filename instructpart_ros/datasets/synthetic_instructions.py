"""What each synthetic part is for, and its six InstructPart-style instructions.

For every (object, part) pair: the affordance and action labels, task templates in a
human voice (instruction 0) and rewrites of them (instruction 1). A task template never
names the part: the model has to work out which part the task needs. Templates may hold
one slot (``{food}``, ``{drink}``, ``{item}``) filled from the object's word list, the
same word for both task instructions of a part. Instructions 2-5 follow the dataset's
fixed part-name patterns. The vocabulary is kept small on purpose, so that a tiny
tokenizer trained on it covers it.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Mapping

import numpy as np

# "that can <phrase>" as the dataset words it (hold -> "be held", cut -> "cut").
AFFORDANCE_PHRASES = {
    "hold": "be held",
    "cut": "cut",
    "contain": "contain",
    "pour": "pour",
    "screw": "screw",
}

# Words a template slot takes, per object.
SLOT_WORDS = {
    "knife": {"food": ("bread", "tomato", "apple", "cheese", "cake", "onion")},
    "mug": {"drink": ("coffee", "tea", "milk", "cocoa")},
    "kettle": {"drink": ("water", "tea")},
    "screwdriver": {"item": ("shelf", "chair", "lamp", "cabinet door")},
    "spoon": {"food": ("soup", "rice", "yogurt", "cereal")},
}


@dataclass(frozen=True)
class PartSemantics:
    """What a part is for: its labels and the task templates that ask for it."""

    affordance: str
    action: str
    tasks: tuple[str, ...]      # instruction 0, human style
    rewrites: tuple[str, ...]   # instruction 1, the same task worded differently


PART_SEMANTICS: Mapping[tuple[str, str], PartSemantics] = {
    ("knife", "handle"): PartSemantics("hold", "hold", tasks=(
        "I want to cut the {food}, where do I hold it?",
        "If I want to use the knife to cut the {food}, which part in the picture should I hold?",
        "Which part of the knife should I grip when I slice the {food}?",
        "If I want to pick up the knife safely, which part should I hold?",
    ), rewrites=(
        "Find the part of the knife that the hand holds while cutting the {food}.",
        "To slice the {food}, which part of the knife do I grip?",
        "Show the part of the knife meant for holding.",
        "Point out where to hold the knife to cut the {food}.",
    )),
    ("knife", "blade"): PartSemantics("cut", "cut", tasks=(
        "If I want to use the knife to cut the {food}, which part in the picture should be used?",
        "Which part of the knife touches the {food} when I cut it?",
        "I want to slice the {food}, which part of the knife does the cutting?",
        "Which part of the knife is sharp?",
    ), rewrites=(
        "Highlight the part of the knife used for cutting.",
        "Find the sharp part of the knife that slices the {food}.",
        "Point out the part of the knife that goes through the {food}.",
        "Show which part of the knife cuts the {food}.",
    )),
    ("mug", "body"): PartSemantics("contain", "drink", tasks=(
        "If I want to pour {drink} into the mug, which part in the picture keeps it?",
        "Which part of the mug contains the {drink}?",
        "Where does the {drink} go when I fill the mug?",
        "I want to drink some {drink}, which part of the mug has it inside?",
    ), rewrites=(
        "Find the part of the mug that contains the {drink}.",
        "Identify the part of the mug that is filled with {drink}.",
        "Show where the {drink} is kept in the mug.",
        "Point out the part of the mug that keeps the {drink} inside.",
    )),
    ("mug", "handle"): PartSemantics("hold", "pick up", tasks=(
        "If I want to pick up the mug of hot {drink}, which part should I hold?",
        "Where should I grip the mug so I do not burn my fingers?",
        "I want to lift the mug, where do I put my fingers?",
        "Which part of the mug should I hold to carry it?",
    ), rewrites=(
        "Find the part of the mug meant for holding.",
        "Identify where to grip the mug when lifting it.",
        "Show the part of the mug that the fingers go through.",
        "Point out where to hold the mug of {drink}.",
    )),
    ("kettle", "body"): PartSemantics("contain", "fill", tasks=(
        "Which part of the kettle is filled with {drink}?",
        "If I want to boil some {drink}, which part of the kettle contains it?",
        "Where is the {drink} kept inside the kettle?",
        "I want to fill the kettle, which part stores the {drink}?",
    ), rewrites=(
        "Find the part of the kettle that contains the {drink}.",
        "Identify the part of the kettle where the {drink} is boiled.",
        "Show the part of the kettle that stores the {drink}.",
        "Point out the large part of the kettle that keeps the {drink}.",
    )),
    ("kettle", "handle"): PartSemantics("hold", "lift", tasks=(
        "If I want to pour {drink} from the kettle, where do I hold it?",
        "Which part of the kettle should I grip to lift it?",
        "I want to pick up the hot kettle, which part is safe to hold?",
        "Where should my hand go to carry the kettle?",
    ), rewrites=(
        "Find the part of the kettle meant for holding.",
        "Identify where to grip the kettle when lifting it.",
        "Show the part of the kettle that the hand holds.",
        "Point out where to hold the kettle to carry it.",
    )),
    ("kettle", "spout"): PartSemantics("pour", "pour", tasks=(
        "Which part of the kettle does the {drink} come out of?",
        "If I want to pour {drink} into a cup, which part of the kettle should face the cup?",
        "Where does the {drink} leave the kettle when I pour it?",
        "I want to fill a cup from the kettle, which part should point at the cup?",
    ), rewrites=(
        "Find the part of the kettle that the {drink} flows out of.",
        "Identify the part of the kettle used for pouring.",
        "Show where the {drink} comes out of the kettle.",
        "Point out the narrow part of the kettle that pours the {drink}.",
    )),
    ("screwdriver", "handle"): PartSemantics("hold", "turn", tasks=(
        "I want to turn a screw, where do I hold the screwdriver?",
        "Which part of the screwdriver should I grip to turn it?",
        "If I want to use the screwdriver, which part goes in my hand?",
        "Where should I hold the screwdriver to fix the {item}?",
    ), rewrites=(
        "Find the part of the screwdriver meant for gripping.",
        "Identify where the hand holds the screwdriver.",
        "Show the part of the screwdriver that is twisted by hand.",
        "Point out where to grip the screwdriver to fix the {item}.",
    )),
    ("screwdriver", "shaft"): PartSemantics("screw", "tighten", tasks=(
        "Which part of the screwdriver goes into the screw?",
        "If I want to fix the {item}, which part of the screwdriver touches the screw?",
        "I want to loosen a screw, which part of the screwdriver fits into its head?",
        "Which metal part of the screwdriver turns the screw?",
    ), rewrites=(
        "Find the part of the screwdriver that fits into the screw.",
        "Identify the long metal part of the screwdriver that drives the screw.",
        "Show the part of the screwdriver that touches the screw head.",
        "Point out the part of the screwdriver that enters the screw.",
    )),
    ("spoon", "handle"): PartSemantics("hold", "hold", tasks=(
        "I want to eat the {food}, where do I hold the spoon?",
        "Which part of the spoon should I grip when I stir the {food}?",
        "If I want to feed someone {food}, which part of the spoon should I hold?",
        "Where do my fingers go on the spoon?",
    ), rewrites=(
        "Find the part of the spoon meant for holding.",
        "Identify where to grip the spoon while eating.",
        "Show the long part of the spoon that the hand holds.",
        "Point out where to hold the spoon to eat the {food}.",
    )),
    ("spoon", "bowl"): PartSemantics("contain", "scoop", tasks=(
        "If I want to transfer some {food} with the spoon, which part should carry it?",
        "Which part of the spoon scoops up the {food}?",
        "I want to taste the {food}, which part of the spoon goes in my mouth?",
        "Where does the {food} sit on the spoon?",
    ), rewrites=(
        "Find the part of the spoon that contains the {food}.",
        "Identify the part of the spoon used for scooping.",
        "Show the round part of the spoon that carries the {food}.",
        "Point out the part of the spoon that scoops the {food}.",
    )),
}


@dataclass(frozen=True)
class PartAnnotation:
    """One InstructPart ``part_list`` entry: labels and the six instructions in order."""

    object: str
    part: str
    affordance: str
    action: str
    instructions: tuple[str, ...]

    def as_json(self) -> dict:
        """The entry as ``data_<split>.json`` stores it."""
        return {"object": self.object, "part": self.part, "affordance": self.affordance,
                "action": self.action, "instruction": list(self.instructions)}


def part_name_forms(object_name: str, part_name: str, affordance: str) -> tuple[str, ...]:
    """Instructions 2-5: the dataset's four patterns that name the part outright."""
    phrase = AFFORDANCE_PHRASES[affordance]
    return (f"Where is the {part_name} of the {object_name} in this image?",
            f"Where is the {part_name} of the {object_name} that can {phrase} in this image?",
            f"{part_name} of the {object_name}",
            f"{part_name} of the {object_name} that can {phrase}")


def template_slots(template: str) -> list[str]:
    """The slot names (``food``, ...) a template uses."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def annotate_part(object_name: str, part_name: str, rng: np.random.Generator) -> PartAnnotation:
    """The annotation of one part, its task wording drawn with ``rng``."""
    semantics = PART_SEMANTICS[(object_name, part_name)]
    words = {slot: choices[rng.integers(len(choices))]
             for slot, choices in SLOT_WORDS.get(object_name, {}).items()}
    task = semantics.tasks[rng.integers(len(semantics.tasks))].format(**words)
    rewrite = semantics.rewrites[rng.integers(len(semantics.rewrites))].format(**words)
    return PartAnnotation(object_name, part_name, semantics.affordance, semantics.action,
                          (task, rewrite) + part_name_forms(object_name, part_name,
                                                            semantics.affordance))


def names_part(text: str, part_name: str) -> bool:
    """Whether ``text`` contains ``part_name`` as a word (case-insensitive)."""
    return re.search(rf"\b{re.escape(part_name)}s?\b", text, re.IGNORECASE) is not None
