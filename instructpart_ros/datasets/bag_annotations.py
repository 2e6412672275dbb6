"""An annotation file for a recording: instructions over time, and ground-truth part masks per frame.

::

    instructions:              # replace the recording's instruction topic
      - {time: 0.0, instruction: "If I want to cut the bread, which part of the knife should I hold?",
         object: knife, part: handle}          # time: seconds from the bag's first message
      - {time: 4.5, instruction: "blade of the knife", object: knife, part: blade}
    masks:                     # ground truth for some colour frames, by header stamp
      - stamp_ns: 1712345678100000000          # or stamp: 1712345678.1 (seconds)
        object: knife
        parts: {handle: masks/000012_handle.png, blade: masks/000012_blade.png}

Mask paths are relative to the annotation file. ``object``/``part`` of an instruction are
optional; without them its frames are replayed and timed but not scored.
"""
from __future__ import annotations

import bisect
import pathlib
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

from instructpart_ros.evaluation.dataset import DatasetError

from .yaml_files import read_yaml, stamp_ns_of_entry

STAMP_TOLERANCE_NS = 1_000_000  # a mask's stamp matches a frame within 1 ms (float seconds round)


@dataclass(frozen=True)
class TimedInstruction:
    bag_time_ns: int
    text: str
    object: str = ""
    part: str = ""


@dataclass(frozen=True)
class FrameMasks:
    stamp_ns: int
    object: str
    parts: Mapping[str, pathlib.Path]


@dataclass(frozen=True)
class BagAnnotations:
    instructions: Tuple[TimedInstruction, ...]  # sorted by time
    masks: Tuple[FrameMasks, ...]  # sorted by stamp

    def masks_for(self, stamp_ns: int) -> Optional[FrameMasks]:
        """The masks annotated for the frame stamped ``stamp_ns`` (within 1 ms), or None."""
        stamps = [entry.stamp_ns for entry in self.masks]
        index = bisect.bisect_left(stamps, stamp_ns - STAMP_TOLERANCE_NS)
        if index < len(stamps) and abs(stamps[index] - stamp_ns) <= STAMP_TOLERANCE_NS:
            return self.masks[index]
        return None


def load_bag_annotations(path: str | pathlib.Path, bag_start_ns: int) -> BagAnnotations:
    """Read an annotation file; instruction ``time`` is seconds after ``bag_start_ns``."""
    path = pathlib.Path(path)
    document = read_yaml(path, "annotation file")
    if not isinstance(document, dict) or not ({"instructions", "masks"} & set(document)):
        raise DatasetError(f"{path} must hold instructions: and/or masks: lists")
    instructions: List[TimedInstruction] = []
    for index, entry in enumerate(document.get("instructions") or []):
        where = f"{path} instruction {index}"
        if not isinstance(entry, dict) or not isinstance(entry.get("instruction"), str) \
                or not isinstance(entry.get("time"), (int, float)):
            raise DatasetError(f"{where} needs time: (seconds from the bag's start) and instruction: text, "
                               f"found {entry!r}")
        instructions.append(TimedInstruction(bag_start_ns + int(round(entry["time"] * 1e9)), entry["instruction"],
                                             str(entry.get("object", "")), str(entry.get("part", ""))))
    masks: Dict[int, FrameMasks] = {}
    for index, entry in enumerate(document.get("masks") or []):
        where = f"{path} masks entry {index}"
        if not isinstance(entry, dict) or not isinstance(entry.get("parts"), dict) or not entry["parts"] \
                or not isinstance(entry.get("object"), str):
            raise DatasetError(f"{where} needs object: and parts: {{part: mask file}}, found {entry!r}")
        stamp = stamp_ns_of_entry(entry, where)
        if stamp in masks:
            raise DatasetError(f"{where}: stamp {stamp} is annotated twice")
        masks[stamp] = FrameMasks(stamp, entry["object"],
                                  {str(part): path.parent / str(file) for part, file in entry["parts"].items()})
    return BagAnnotations(tuple(sorted(instructions, key=lambda item: item.bag_time_ns)),
                          tuple(masks[stamp] for stamp in sorted(masks)))
