"""Replay evaluation without ROS: play samples or a recording to a perception node through a
*transport* (the ROS side implements it over DDS), score what comes back, write the report.

Nothing is lost: each sample's result is appended to ``OUT/results.jsonl`` and flushed
before the next one starts, and its mask is written first; a rerun of the same command
skips every sample with a final record (see :mod:`.results_log`). A sample the node does
not answer within ``timeout`` is tried ``retries`` more times, then recorded as failed
with the reason (a rerun tries it again); a bad entry (missing or corrupt file, mask of
another size, unreadable bag frame) is recorded by name and the run goes on.

Output (``OUT``): ``metrics.json``, ``metrics.md``, ``qualitative.png``, ``results.jsonl``,
``run.json``, ``predictions/<variant>/<sample id>.png`` (``instructpart eval``'s layout,
with its ``run.json``), and for recordings ``frames/`` (annotated frames), ``results/``
(each frame's serialised result) and ``replay_bag/`` (MCAP of inputs and results).
"""
from __future__ import annotations

import os
import pathlib
import shutil
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Protocol, Sequence, Tuple

import cv2

from instructpart_ros.datasets.bag_annotations import BagAnnotations, TimedInstruction
from instructpart_ros.datasets.instruction_forms import parse_part_name
from instructpart_ros.datasets.replay_bag import ReplayBagWriter
from instructpart_ros.datasets.rgbd_images import RgbdImages
from instructpart_ros.datasets.rosbag_frames import BagError, BagFrame, BagInstruction, BagRecording

from .dataset import InstructPartSample
from .prediction import check_run_config, write_atomically, write_mask, write_run_config
from .progress import progress_bar
from .replay_items import ReplayItem
from .replay_report import QualitativeEntry, write_replay_report
from .replay_scoring import NodeAnswer, answer_record, read_part_masks
from .results_log import ResultsLog
from .scoring import prediction_path

LOG_FILE = "results.jsonl"
PREDICTIONS_DIR = "predictions"
FRAMES_DIR = "frames"
RESULTS_DIR = "results"
OUTPUT_BAG_DIR = "replay_bag"
RECORDING_VARIANT = "recording"
TIMINGS = ("lockstep", "realtime")


class SampleTransport(Protocol):
    """One frame + one instruction -> the node's answer (the ``segment_part`` service)."""

    def segment(self, images: RgbdImages, instruction: str, timeout: float) -> NodeAnswer:
        """The answer; TimeoutError when none came within ``timeout`` seconds."""

    def failure(self) -> Optional[str]:
        """Why the node can no longer answer (e.g. its process exited), or None."""


class StreamTransport(Protocol):
    """Frames and instructions on the node's topics; results from ``part_segmentation``."""

    def send_instruction(self, text: str) -> None: ...

    def send_frame(self, images: RgbdImages) -> None: ...

    def wait_result(self, stamp_ns: int, instruction: str, timeout: float) -> NodeAnswer:
        """The result for the frame stamped ``stamp_ns`` under ``instruction``; TimeoutError if none."""

    def drain(self) -> List[NodeAnswer]:
        """Every result received since the last call."""

    def failure(self) -> Optional[str]: ...


@dataclass
class ReplayOptions:
    out: pathlib.Path
    run: dict  # what was replayed (source, dataset, split, variants, ...): must be equal on a rerun
    model: dict  # provenance of the node's model (kind, checkpoint, mode, dtype, ...)
    timeout: float = 30.0
    retries: int = 2
    qualitative: int = 4
    method: str = ""
    progress: Optional[bool] = None
    warnings: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.out = pathlib.Path(self.out)
        if not self.timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {self.timeout}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")


def ask(call: Callable[[], NodeAnswer], failure: Callable[[], Optional[str]],
        retries: int) -> Tuple[Optional[NodeAnswer], int, str]:
    """``(answer, attempts, reason)``: ``call()`` up to ``retries + 1`` times, stopping early when
    ``failure()`` says the node is gone."""
    reasons: List[str] = []
    for attempt in range(1, retries + 2):
        gone = failure()
        if gone:
            return None, attempt - 1, gone
        try:
            return call(), attempt, ""
        except (TimeoutError, ConnectionError) as error:
            reasons.append(str(error))
    return None, retries + 1, f"no answer after {retries + 1} tries: {reasons[-1]}"


# Settings a rerun may change: its results are kept per sample and variant, and the report
# covers the samples the rerun asks for.
RERUN_MAY_CHANGE = ("limit", "instruction")


def _prepare(options: ReplayOptions) -> None:
    options.out.mkdir(parents=True, exist_ok=True)
    config = {**options.run, "model": options.model}
    check_run_config(options.out, {k: v for k, v in config.items() if k not in RERUN_MAY_CHANGE},
                     fix="pass a new --out folder, or delete this one to start over")
    write_run_config(options.out, config)


def _write_variant_config(options: ReplayOptions, variant: str) -> pathlib.Path:
    """``predictions/<variant>/`` with the ``run.json`` ``instructpart eval --predictions`` reads."""
    folder = options.out / PREDICTIONS_DIR / variant
    folder.mkdir(parents=True, exist_ok=True)
    model = options.model
    write_run_config(folder, {"kind": model.get("kind"), "checkpoint": model.get("checkpoint"),
                              "vision_tower": model.get("vision_tower"), "dinov2": model.get("dinov2"),
                              "instruction": variant, "mode": model.get("mode"), "dtype": model.get("dtype"),
                              "producer": "instructpart replay"})
    return folder


def _base_record(key: str, variant: str, sample_id: str, object_name: str, part: str, instruction: str) -> dict:
    return {"key": key, "variant": variant, "id": sample_id, "object": object_name, "part": part,
            "instruction": instruction}


# ---------------------------------------------------------------------------- samples
def replay_items(items: Sequence[ReplayItem], transport: SampleTransport, options: ReplayOptions,
                 extra_metrics: Optional[dict] = None) -> dict:
    """Send every item not yet done to the node, then score all and write the report; the metrics."""
    if not items:
        raise ValueError("nothing to replay: the source has no samples")
    _prepare(options)
    folders = {variant: _write_variant_config(options, variant) for variant in dict.fromkeys(i.variant for i in items)}
    with ResultsLog(options.out / LOG_FILE) as log:
        todo = [item for item in items if not log.is_done(item.key)]
        with progress_bar(len(items), "replaying", "sample", options.progress, initial=len(items) - len(todo)) as bar:
            for item in todo:
                log.append(_replay_item(item, transport, options, folders[item.variant]))
                bar.update()
        records = dict(log.records)
    entries = [QualitativeEntry(item.key, item.sample, options.out / PREDICTIONS_DIR / item.variant, item.instruction)
               for item in items]
    return write_replay_report(options, items_by_variant(items), records, entries, extra_metrics or {})


def items_by_variant(items: Sequence[ReplayItem]) -> Dict[str, List[ReplayItem]]:
    grouped: Dict[str, List[ReplayItem]] = {}
    for item in items:
        grouped.setdefault(item.variant, []).append(item)
    return grouped


def _replay_item(item: ReplayItem, transport: SampleTransport, options: ReplayOptions,
                 folder: pathlib.Path) -> dict:
    sample = item.sample
    record = _base_record(item.key, item.variant, sample.id, sample.object, sample.part, item.instruction)
    try:
        images = item.load_images()
        masks = read_part_masks(item.part_masks, images)
    except (ValueError, OSError) as error:  # DatasetError and BagError are ValueErrors
        return {**record, "outcome": "bad_entry", "reason": f"{sample.id}: {error}"}
    started = time.perf_counter()
    answer, attempts, reason = ask(lambda: transport.segment(images, item.instruction, options.timeout),
                                   transport.failure, options.retries)
    record["attempts"] = attempts
    if answer is None:
        return {**record, "outcome": "failed", "reason": reason}
    if answer.mask.shape != images.rgb.shape[:2]:
        return {**record, "outcome": "failed",
                "reason": f"the node returned a {answer.mask.shape[1]}x{answer.mask.shape[0]} mask for a "
                          f"{images.size} image"}
    answer.round_trip_ms = answer.round_trip_ms or (time.perf_counter() - started) * 1e3
    write_mask(prediction_path(folder, sample.id), answer.mask)  # before the record: a record implies its mask
    return {**record, **answer_record(answer, images, sample.part, masks)}


# ---------------------------------------------------------------------------- recordings
@dataclass
class _Instruction:
    text: str
    object: str = ""
    part: str = ""

    @classmethod
    def parsed(cls, text: str) -> "_Instruction":
        named = parse_part_name(text)
        return cls(text, *named) if named else cls(text)


@dataclass
class _SentFrame:
    key: str
    frame: BagFrame
    instruction: _Instruction
    record: dict
    sent_at: float


def _events(bag: BagRecording, annotations: Optional[BagAnnotations]) -> Iterator[Tuple[int, object]]:
    """``(bag time, BagFrame or _Instruction)`` in order; annotated instructions replace the topic's."""
    timed: List[TimedInstruction] = list(annotations.instructions) if annotations else []
    from_topic = not timed  # annotated instructions replace the recorded ones
    for event in bag.events():
        while timed and timed[0].bag_time_ns <= event.bag_time_ns:
            entry = timed.pop(0)
            yield entry.bag_time_ns, _Instruction(entry.text, entry.object, entry.part) if entry.object \
                else _Instruction.parsed(entry.text)
        if isinstance(event, BagInstruction):
            if from_topic:
                yield event.bag_time_ns, _Instruction.parsed(event.text)
        else:
            yield event.bag_time_ns, event
    for entry in timed:
        yield entry.bag_time_ns, _Instruction(entry.text, entry.object, entry.part)


def frame_key(bag: BagRecording, frame: BagFrame) -> Tuple[str, str]:
    sample_id = f"{bag.name}-{frame.index:06d}"
    return f"{RECORDING_VARIANT}/{sample_id}", sample_id


class RecordingReplay:
    """Plays one or more recordings to the node (lockstep or realtime) and scores the frames."""

    def __init__(self, transport: StreamTransport, options: ReplayOptions, timing: str = "lockstep",
                 rate: float = 1.0, write_bag: bool = True) -> None:
        if timing not in TIMINGS:
            raise ValueError(f"timing {timing!r} is not supported: use lockstep or realtime")
        if not rate > 0:
            raise ValueError(f"rate must be > 0 (1 = as recorded), got {rate}")
        self.transport, self.options, self.timing, self.rate = transport, options, timing, rate
        self.write_bag = write_bag
        self.bad_entries: List[dict] = []
        self.bag_summaries: List[dict] = []
        self.keys: List[str] = []

    def run(self, bags: Sequence[Callable[[], BagRecording]], annotations: Optional[Callable] = None) -> dict:
        """Replay each recording (a callable opening it, so a bag that cannot be opened is a bad entry)."""
        options = self.options
        _prepare(options)
        self.folder = _write_variant_config(options, RECORDING_VARIANT)
        with ResultsLog(options.out / LOG_FILE) as log:
            self.log = log
            for open_bag in bags:
                try:
                    with open_bag() as bag:
                        self._replay_bag(bag, annotations(bag) if annotations else None)
                except (BagError, OSError, ValueError) as error:
                    self.bad_entries.append({"key": "", "reason": str(error)})
            records = dict(log.records)
        if not self.keys:
            reasons = "; ".join(entry["reason"] for entry in self.bad_entries)
            raise ValueError(reasons or "nothing to replay: the recordings hold no colour frames")
        entries = [QualitativeEntry(key, _sample_from_record(records[key]), self.folder, records[key]["instruction"])
                   for key in self.keys if key in records and records[key].get("iou")]
        by_variant = {RECORDING_VARIANT: [_RecordItem(key, records[key]) for key in self.keys if key in records]}
        extra = {"timing": self._timing_summary(records), "bags": self.bag_summaries, "bad_entries_bags":
                 self.bad_entries}
        if self.write_bag and self.keys:
            extra["output_bag"] = self._write_output_bag(bags, annotations, records)
        return write_replay_report(options, by_variant, records, entries, extra)

    # ------------------------------------------------------------------ one bag
    def _replay_bag(self, bag: BagRecording, annotations: Optional[BagAnnotations]) -> None:
        self.options.warnings.extend(bag.warnings)
        self._annotations_now = annotations
        summary = {"bag": str(bag.path), "frames": bag.color_count, "color_topic": bag.color_topic,
                   "depth_topic": bag.depth_topic, "skipped_topics": bag.skipped_topics}
        self.bag_summaries.append(summary)
        current: Optional[_Instruction] = None
        resend = True
        pending: Dict[int, _SentFrame] = {}  # realtime: stamp -> frame awaiting its result
        clock: Optional[Tuple[float, int]] = None  # realtime: (wall start, bag start)
        with progress_bar(bag.color_count, f"replaying {bag.name}", "frame", self.options.progress) as bar:
            for bag_time, event in _events(bag, annotations):
                if self.timing == "realtime":
                    clock = clock or (time.monotonic(), bag_time)
                    self._sleep_until(clock, bag_time)
                    self._collect(pending)
                if isinstance(event, _Instruction):
                    current, resend = event, True
                    if self.timing == "realtime":
                        self.transport.send_instruction(current.text)
                        resend = False
                    continue
                bar.update()
                key, sample_id = frame_key(bag, event)
                self.keys.append(key)
                if self.log.is_done(key):
                    continue
                record = _base_record(key, RECORDING_VARIANT, sample_id, current.object if current else "",
                                      current.part if current else "", current.text if current else "")
                record.update({"frame_index": event.index, "bag_time_ns": event.bag_time_ns,
                               "stamp_ns": event.images.stamp_ns, "camera_info_static": event.camera_info_static})
                if current is None:
                    self.log.append({**record, "outcome": "no_instruction",
                                     "reason": "no instruction yet at this point of the recording"})
                    continue
                if self.timing == "lockstep":
                    if resend:  # also after a restart: the node must hold the current instruction
                        self.transport.send_instruction(current.text)
                        resend = False
                    self.log.append(self._lockstep_frame(event, current, record, annotations))
                else:
                    self.transport.send_frame(event.images)
                    pending[event.images.stamp_ns] = _SentFrame(key, event, current, record, time.monotonic())
        if self.timing == "realtime":
            self._finish_realtime(pending)
        if bag.truncated:
            self.bad_entries.append({"key": str(bag.path), "reason": bag.truncated})
        summary["truncated"] = bag.truncated

    def _lockstep_frame(self, frame: BagFrame, instruction: _Instruction, record: dict,
                        annotations: Optional[BagAnnotations]) -> dict:
        images = frame.images

        def call() -> NodeAnswer:
            self.transport.send_frame(images)
            return self.transport.wait_result(images.stamp_ns, instruction.text, self.options.timeout)

        answer, attempts, reason = ask(call, self.transport.failure, self.options.retries)
        record["attempts"] = attempts
        if answer is None:
            return {**record, "outcome": "failed", "reason": reason}
        return self._answered(frame, instruction, record, answer, annotations)

    def _answered(self, frame: BagFrame, instruction: _Instruction, record: dict, answer: NodeAnswer,
                  annotations: Optional[BagAnnotations]) -> dict:
        images = frame.images
        if answer.mask.shape != images.rgb.shape[:2]:
            return {**record, "outcome": "failed", "reason": f"the node returned a {answer.mask.shape[1]}x"
                                                              f"{answer.mask.shape[0]} mask for a {images.size} image"}
        write_mask(prediction_path(self.folder, record["id"]), answer.mask)
        if answer.result_cdr is not None:
            results = self.options.out / RESULTS_DIR
            results.mkdir(exist_ok=True)
            write_atomically(results / f"{record['id']}.cdr", answer.result_cdr)
        masks, ground_truth = self._ground_truth(record, images, instruction, annotations)
        if masks is None and ground_truth.get("reason"):
            record["ground_truth"] = ground_truth["reason"]
        record.update(ground_truth if masks is not None else {})
        return {**record, **answer_record(answer, images, instruction.part or None, masks)}

    def _ground_truth(self, record: dict, images: RgbdImages, instruction: _Instruction,
                      annotations: Optional[BagAnnotations]):
        """``(part masks or None, fields)`` for a frame with annotated masks for the instruction's object."""
        entry = annotations.masks_for(images.stamp_ns) if annotations else None
        if entry is None:
            return None, {}
        if entry.object != instruction.object or instruction.part not in entry.parts:
            return None, {"reason": f"masks annotated for the {entry.object} ({', '.join(entry.parts)}), but the "
                                    f"instruction is about the {instruction.object or '?'} "
                                    f"{instruction.part or '?'}: not scored"}
        try:
            masks = read_part_masks(entry.parts, images)
        except ValueError as error:
            return None, {"reason": f"ground truth not used: {error}"}
        image_path = self.options.out / FRAMES_DIR / f"{record['id']}.png"
        image_path.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(image_path), cv2.cvtColor(images.rgb, cv2.COLOR_RGB2BGR))
        return masks, {"image_path": str(image_path), "mask_path": str(entry.parts[instruction.part])}

    # ------------------------------------------------------------------ realtime
    def _sleep_until(self, clock: Tuple[float, int], bag_time: int) -> None:
        wall_start, bag_start = clock
        delay = wall_start + (bag_time - bag_start) / 1e9 / self.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def _collect(self, pending: Dict[int, _SentFrame]) -> None:
        """Match the results received so far; frames older than an answered one are dropped
        (the node works on the latest frame only)."""
        for answer in self.transport.drain():
            sent = pending.get(answer.stamp_ns)
            if sent is None or answer.instruction != sent.instruction.text:
                continue
            del pending[answer.stamp_ns]
            answer.round_trip_ms = (time.monotonic() - sent.sent_at) * 1e3
            self.log.append(self._answered(sent.frame, sent.instruction, sent.record, answer, self._annotations_now))
            for stamp, older in sorted(pending.items()):
                if older.frame.index < sent.frame.index:
                    del pending[stamp]
                    self.log.append(self._dropped(older))

    def _finish_realtime(self, pending: Dict[int, _SentFrame]) -> None:
        deadline = time.monotonic() + self.options.timeout
        while pending and time.monotonic() < deadline and not self.transport.failure():
            time.sleep(0.02)
            self._collect(pending)
        for _, sent in sorted(pending.items()):
            self.log.append(self._dropped(sent))
        pending.clear()

    @staticmethod
    def _dropped(sent: _SentFrame) -> dict:
        return {**sent.record, "outcome": "dropped",
                "reason": "no result: the node was still busy with an earlier frame (latest frame wins)"}

    def _timing_summary(self, records: Dict[str, dict]) -> dict:
        frames = [records[key] for key in self.keys if key in records]
        outcomes = {name: sum(1 for r in frames if r.get("outcome") == name)
                    for name in ("answered", "dropped", "failed", "no_instruction")}
        sent = outcomes["answered"] + outcomes["dropped"] + outcomes["failed"]
        return {"mode": self.timing, "rate": self.rate, "frames": len(frames), **outcomes,
                "drop_rate": 100.0 * outcomes["dropped"] / sent if sent else 0.0}

    # ------------------------------------------------------------------ output bag
    def _write_output_bag(self, bags, annotations, records: Dict[str, dict]) -> dict:
        """Inputs (read again from the recordings) and each frame's result, as one MCAP recording."""
        path = self.options.out / OUTPUT_BAG_DIR
        partial = path.with_name(path.name + ".partial")
        if partial.exists():  # left by a run killed while writing it
            shutil.rmtree(partial)
        with ReplayBagWriter(partial) as writer:
            for open_bag in bags:
                try:
                    with open_bag() as bag:
                        for bag_time, event in _events(bag, annotations(bag) if annotations else None):
                            if isinstance(event, _Instruction):
                                writer.write_instruction(bag_time, event.text)
                                continue
                            writer.write_frame(bag_time, event.images)
                            key, sample_id = frame_key(bag, event)
                            blob = self.options.out / RESULTS_DIR / f"{sample_id}.cdr"
                            if records.get(key, {}).get("outcome") == "answered" and blob.is_file():
                                writer.write_result(bag_time + 1, blob.read_bytes())
                except (BagError, OSError, ValueError):
                    continue  # already reported as a bad entry
            counts = dict(writer.counts)
        # rosbag2 names the storage file after the directory: rename both together
        os.replace(partial / f"{partial.name}.mcap", partial / f"{path.name}.mcap")
        metadata = partial / "metadata.yaml"
        metadata.write_text(metadata.read_text().replace(f"{partial.name}.mcap", f"{path.name}.mcap"))
        if path.exists():  # from an earlier run: this one may have answered more frames
            shutil.rmtree(path)
        os.replace(partial, path)
        return {"path": str(path), "messages": counts}


@dataclass(frozen=True)
class _RecordItem:
    """A recorded frame seen as an item by the report (its record holds what it needs)."""

    key: str
    record: dict

    @property
    def sample(self) -> Optional[InstructPartSample]:
        return _sample_from_record(self.record) if self.record.get("mask_path") else None


def _sample_from_record(record: dict) -> InstructPartSample:
    return InstructPartSample(
        id=record["id"], image_path=pathlib.Path(record["image_path"]), mask_path=pathlib.Path(record["mask_path"]),
        object=record["object"], part=record["part"], affordance="", action=record["instruction"],
        instructions={RECORDING_VARIANT: record["instruction"]})

