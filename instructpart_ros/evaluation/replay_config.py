"""What a replay run is asked to do (``instructpart replay`` and ``replay_eval_node`` share it),
and running it against a transport to the perception node."""
from __future__ import annotations

import functools
import pathlib
from dataclasses import dataclass, field
from typing import List, Optional

from instructpart_ros.datasets.bag_annotations import load_bag_annotations
from instructpart_ros.datasets.rosbag_frames import BagRecording, BagTopics
from instructpart_ros.package_files import find_share_file

from .replay import RecordingReplay, ReplayOptions, SampleTransport, StreamTransport, replay_items
from .dataset import INSTRUCTION_NAMES
from .replay_items import instructpart_items, load_replay_taskset, parse_variants, taskset_items

SOURCES = ("instructpart", "taskset", "bag")
BAG_SUFFIXES = (".mcap", ".db3", ".bag")
TRANSPORTS = {"instructpart": "segment_part service, one request per sample with its image",
              "taskset": "segment_part service, one request per task with its RGB-D frame",
              "bag": "the node's topics: colour, depth, camera_info and instruction, as a camera would"}


def default_mode(source: str) -> str:
    """InstructPart is scored as the paper does (LISA's teacher-forced ``validate()``); the robot's
    sources run the robot's ``generate`` mode."""
    return "teacher_forced" if source == "instructpart" else "generate"


@dataclass(frozen=True)
class ReplayConfig:
    source: str
    dataset: pathlib.Path
    out: pathlib.Path
    split: str = "test"
    instruction: str = "all"
    limit: Optional[int] = None
    timing: str = "lockstep"
    rate: float = 1.0
    topics: BagTopics = field(default_factory=BagTopics)
    annotations: Optional[pathlib.Path] = None
    sync_slop: float = 0.05
    timeout: float = 30.0
    retries: int = 2
    qualitative: int = 4
    method: str = ""
    write_bag: bool = True
    progress: Optional[bool] = None

    def check(self) -> None:
        """ValueError naming the option for settings that cannot work."""
        if self.source not in SOURCES:
            raise ValueError(f"source {self.source!r} is not supported: use one of {', '.join(SOURCES)}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit}")
        if self.qualitative < 1:
            raise ValueError(f"qualitative must be at least 1, got {self.qualitative}")
        if not self.sync_slop >= 0:
            raise ValueError(f"sync_slop must be >= 0 seconds, got {self.sync_slop}")
        if self.annotations is not None and self.source != "bag":
            raise ValueError("annotations only apply to the bag source")

    def run_info(self) -> dict:
        """What defines the results (a rerun into the same ``out`` must match it)."""
        dataset = taskset_path(self.dataset) if self.source == "taskset" else pathlib.Path(self.dataset)
        info = {"source": self.source, "dataset": str(dataset.resolve()),
                "instruction": self.instruction, "limit": self.limit, "transport": TRANSPORTS[self.source]}
        if self.source == "instructpart":
            info["split"] = self.split
        if self.source == "bag":
            info.update(timing=self.timing, rate=self.rate, topics=self.topics.__dict__, sync_slop=self.sync_slop,
                        annotations=str(self.annotations.resolve()) if self.annotations else None)
        return info


def taskset_path(dataset: str | pathlib.Path) -> pathlib.Path:
    """A task-set manifest path, or the name of one shipped in config/tasksets/ (e.g. ``shapegrasp_knife``)."""
    path = pathlib.Path(dataset)
    if path.is_file() or path.suffix in (".yaml", ".yml"):
        return path
    try:
        return find_share_file("config", "tasksets", f"{path.name}.yaml")
    except FileNotFoundError:
        raise ValueError(f"task set {dataset}: no such manifest file, nor a shipped task set of that name "
                         "(config/tasksets/*.yaml)") from None


def recording_paths(dataset: str | pathlib.Path) -> List[pathlib.Path]:
    """The recordings ``dataset`` names: one bag (rosbag2 directory, .mcap, .db3, .bag), or a folder of them."""
    path = pathlib.Path(dataset)
    if path.is_file() and path.suffix in BAG_SUFFIXES or (path / "metadata.yaml").is_file():
        return [path]
    if path.is_dir():
        bags = sorted(child for child in path.iterdir()
                      if (child.is_file() and child.suffix in BAG_SUFFIXES) or (child / "metadata.yaml").is_file())
        if bags:
            return bags
        raise ValueError(f"{path} is neither a rosbag2 directory (no metadata.yaml) nor a folder of recordings")
    raise ValueError(f"recording {path} does not exist: pass a rosbag2 directory, a .mcap/.db3 file, a ROS 1 "
                     ".bag, or a folder of them")


def run_replay(config: ReplayConfig, model: dict, samples: Optional[SampleTransport] = None,
               stream: Optional[StreamTransport] = None, warnings: Optional[List[str]] = None) -> dict:
    """Replay ``config``'s source through the given transport and write the report; the metrics.

    ``model`` is the node's model provenance (kind, checkpoint, mode, dtype, device, ...).
    """
    config.check()
    options = ReplayOptions(out=config.out, run=config.run_info(), model=model, timeout=config.timeout,
                            retries=config.retries, qualitative=config.qualitative, method=config.method,
                            progress=config.progress, warnings=list(warnings or []))
    if config.source == "instructpart":
        variants = parse_variants(config.instruction, INSTRUCTION_NAMES)
        items = instructpart_items(config.dataset, config.split, variants, config.limit)
        return replay_items(items, samples, options)
    if config.source == "taskset":
        taskset = load_replay_taskset(taskset_path(config.dataset))
        variants = parse_variants(config.instruction, list(taskset.instructions))
        items = taskset_items(taskset, variants, config.out / "frames", config.topics, config.sync_slop)
        if config.limit is not None:
            items = items[:config.limit]
        extra = {"taskset": taskset.name}
        if taskset.table_tasks:
            extra["coverage"] = taskset.coverage()
        return replay_items(items, samples, options, extra)
    paths = recording_paths(config.dataset)
    if config.annotations is not None and len(paths) != 1:
        raise ValueError(f"an annotation file describes one recording, but {config.dataset} holds {len(paths)}")
    openers = [functools.partial(BagRecording, path, config.topics, config.sync_slop) for path in paths]
    annotations = None if config.annotations is None else (
        lambda bag: load_bag_annotations(config.annotations, bag.start_time_ns))
    replay = RecordingReplay(stream, options, config.timing, config.rate, config.write_bag)
    return replay.run(openers, annotations)
