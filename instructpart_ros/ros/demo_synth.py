"""The demo's held-out synthetic scene: which scene and instructions, how a mask is judged, the overlay.

The committed tiny model (models/pisa-tiny-synth) was trained on ``instructpart synth`` seed 1
and validated on seed 2; the demo renders scene ``SCENE_INDEX`` of seed ``SCENE_SEED``, which
neither saw. It asks for each of the object's two parts with its task instruction (the
dataset's first, "human" variant, which does not name the part). No ROS import.
"""
from __future__ import annotations

import textwrap
from typing import Optional, Sequence

import cv2
import numpy as np

from instructpart_ros.datasets.synthetic_scenes import SyntheticScene, render_scene
from instructpart_ros.evaluation.part_selection import select_part

from .overlay import overlay_mask

SCENE_SEED = 7  # training used seed 1, validation seed 2
SCENE_INDEX = 0  # a knife: handle and blade, both reliable for the tiny model
TASK_INSTRUCTION = 0  # index into a part's six instructions: the task wording
COLORS = ((255, 40, 40), (40, 140, 255))  # RGB, one per instruction
SCALE = 2  # the 320x240 scene is drawn at 640x480 so the labels fit
LINE_PX = 22


def held_out_scene(seed: int = SCENE_SEED, index: int = SCENE_INDEX) -> SyntheticScene:
    """The synthetic scene the demo plays (deterministic)."""
    return render_scene(seed, index)


def demo_instructions(scene: SyntheticScene) -> list[tuple[str, str]]:
    """``(part, task instruction)`` for each annotated part of the scene's object."""
    return [(part, annotation.instructions[TASK_INSTRUCTION]) for part, annotation in scene.annotations.items()]


def selected_part(mask: np.ndarray, parts) -> Optional[str]:
    """The part ``mask`` selects by :func:`select_part`'s rule (at least half of the mask in it, and
    more than in any other part), or None when it selects none."""
    return next((name for name in parts if select_part(mask, name, parts).correct), None)


def judge(mask: np.ndarray, scene: SyntheticScene, target_part: str) -> dict:
    """Whether ``mask`` picks ``target_part`` of the scene, with the pixel counts behind the verdict."""
    verdict = select_part(mask, target_part, scene.parts)
    return {"target_part": target_part, "selected_part": selected_part(mask, scene.parts),
            "correct": verdict.correct, "reason": verdict.reason, "mask_pixels": verdict.returned_pixels,
            "part_pixels": dict(verdict.part_pixels)}


def synth_overlay(scene: SyntheticScene, masks: Sequence[np.ndarray], instructions: Sequence[str],
                  verdicts: Sequence[dict], title: str) -> np.ndarray:
    """The scene (RGB, at ``SCALE``) with every mask in its colour, and below it one legend entry per
    instruction: the instruction, the part its mask selected and whether that is the wanted part."""
    height, width = scene.rgb.shape[:2]
    size = (width * SCALE, height * SCALE)
    image = cv2.resize(scene.rgb, size, interpolation=cv2.INTER_LINEAR)
    for mask, color in zip(masks, COLORS):
        big = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        image = overlay_mask(image, big, alpha=0.45, color=color)
    chars = size[0] // 9
    entries = []
    for number, (instruction, verdict, color) in enumerate(zip(instructions, verdicts, COLORS), start=1):
        lines = textwrap.wrap(f"{number}. {instruction}", chars)
        chosen = verdict["selected_part"] or "no part"
        lines.append(f"   -> mask on the {chosen} (wanted: {verdict['target_part']}): "
                     f"{'RIGHT' if verdict['correct'] else 'WRONG'}")
        entries.append((lines, color))
    title_lines = textwrap.wrap(title, chars)
    rows = len(title_lines) + sum(len(lines) for lines, _ in entries) + len(entries)
    panel = np.full((10 + LINE_PX * rows, size[0], 3), 30, np.uint8)
    y = LINE_PX
    for line in title_lines:
        _text(panel, line, y, (255, 255, 255))
        y += LINE_PX
    for lines, color in entries:
        y += LINE_PX // 2
        cv2.rectangle(panel, (8, y - 13), (20, y - 1), color, thickness=-1)
        for line in lines:
            _text(panel, line, y, color, x=28)
            y += LINE_PX
    return np.vstack([image, panel])


def _text(image: np.ndarray, text: str, y: int, color, x: int = 8) -> None:
    cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.48, tuple(int(c) for c in color), 1, cv2.LINE_AA)
