"""``instructpart replay``: play a dataset or a recording through the live perception node over
DDS and score segmentation and part selection (``replay_eval_node`` without ``ros2 launch``).

    instructpart replay --source instructpart --dataset ROOT --out OUT \\
        --checkpoint DIR --kind pisa --vision-tower CLIP_DIR --dinov2 DINO_DIR
    instructpart replay --source taskset --dataset shapegrasp_knife --out OUT --checkpoint ...
    instructpart replay --source bag --dataset run1.mcap --annotations run1.yaml --out OUT --checkpoint ...

It starts the perception node as its own process (or uses a running one with
``--use-running-node``), replays, and writes OUT/metrics.json, metrics.md,
qualitative.png and predictions/<variant>/<sample id>.png. Rerunning the same command
continues an interrupted run. Heavy imports (rclpy, torch) live in :func:`run`.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

from instructpart_ros.datasets.rosbag_frames import BagTopics
from instructpart_ros.evaluation.replay_config import SOURCES, ReplayConfig, default_mode

_TOPICS = BagTopics()
MODEL_OPTIONS = ("checkpoint", "kind", "vision_tower", "dinov2")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``replay``'s options on ``parser``."""
    data = parser.add_argument_group("data and output")
    data.add_argument("--source", required=True, choices=SOURCES,
                      help="instructpart: a split of the dataset; taskset: a table-top task-set manifest; "
                           "bag: a rosbag2 / ROS 1 recording")
    data.add_argument("--dataset", required=True, type=pathlib.Path, metavar="PATH",
                      help="InstructPart root; task-set manifest or shipped name (shapegrasp_knife); "
                           "recording (rosbag2 directory, .mcap, .db3, .bag) or a folder of recordings")
    data.add_argument("--split", default="test", help="InstructPart split: test, all or trainNNNN (default: test)")
    data.add_argument("--instruction", default="all", metavar="VARIANTS",
                      help="instruction variants, named as instructpart eval --instruction names them: all "
                           "(default) or a comma-separated list (human,gpt,op_sentence,opa_sentence,op,opa); "
                           "task sets: the variants their manifest defines")
    data.add_argument("--out", required=True, type=pathlib.Path, metavar="OUT",
                      help="folder for metrics.json, metrics.md, qualitative.png, predictions/, results.jsonl")
    data.add_argument("--limit", type=int, metavar="N", help="only the first N samples or tasks")
    data.add_argument("--method", default="", help="name of the model's row in metrics.md (default: its kind)")
    data.add_argument("--qualitative", type=int, default=4, metavar="K",
                      help="best and worst cases shown in qualitative.png (default: 4)")
    data.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                      help="progress bars (default: only on a terminal)")
    model = parser.add_argument_group("the perception node's model (as instructpart eval --checkpoint)")
    model.add_argument("--checkpoint", type=pathlib.Path, metavar="DIR", help="LISA/PISA checkpoint folder")
    model.add_argument("--kind", choices=("pisa", "lisa"), help="model kind of --checkpoint")
    model.add_argument("--vision-tower", type=pathlib.Path, metavar="DIR", help="CLIP vision tower folder")
    model.add_argument("--dinov2", type=pathlib.Path, metavar="DIR", help="DINOv2 folder (pisa)")
    model.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: cuda when available")
    model.add_argument("--dtype", choices=("auto", "float32", "bfloat16", "float16"), default="auto",
                       help="auto: bfloat16 on cuda, float32 on cpu")
    model.add_argument("--mode", choices=("generate", "teacher_forced"),
                       help="how the model produces [SEG] (default: teacher_forced for instructpart, the paper's "
                            "protocol; generate, the robot's, for taskset and bag)")
    node = parser.add_argument_group("the perception node")
    node.add_argument("--use-running-node", action="store_true",
                      help="replay to a perception node that is already running instead of starting one "
                           "(its model and mode are recorded from its parameters)")
    node.add_argument("--node-name", default="perception_node", help="its name (default: perception_node)")
    node.add_argument("--node-params", type=pathlib.Path, metavar="FILE",
                      help="ROS parameters file with more perception node parameters (e.g. the depth filter)")
    node.add_argument("--timeout", type=float, default=30.0, metavar="S",
                      help="seconds to wait for each answer (default: 30)")
    node.add_argument("--retries", type=int, default=2, metavar="N",
                      help="further tries before a sample is recorded as failed (default: 2)")
    node.add_argument("--startup-timeout", type=float, default=300.0, metavar="S",
                      help="seconds to wait for the node to load its model (default: 300)")
    bag = parser.add_argument_group("recordings (--source bag)")
    bag.add_argument("--timing", choices=("lockstep", "realtime"), default="lockstep",
                     help="lockstep: each frame waits for its result (nothing dropped); realtime: the recorded "
                          "rate x --rate, counting the frames the node drops")
    bag.add_argument("--rate", type=float, default=1.0, help="realtime playback speed (default: 1)")
    bag.add_argument("--annotations", type=pathlib.Path, metavar="FILE",
                     help="instructions over time and ground-truth masks per frame (default: instructions from "
                          "--instruction-topic)")
    bag.add_argument("--sync-slop", type=float, default=0.05, metavar="S",
                     help="largest header-stamp gap pairing colour and depth (default: 0.05)")
    for name, default in _TOPICS.__dict__.items():
        bag.add_argument(f"--{name.replace('_', '-')}-topic", default=default, help=f"(default: {default})")
    bag.add_argument("--no-output-bag", dest="write_bag", action="store_false",
                     help="do not write OUT/replay_bag (the MCAP of inputs and results)")


def config_from_args(args: argparse.Namespace) -> ReplayConfig:
    """The replay the options describe (ValueError for options that cannot work)."""
    if args.use_running_node:
        given = [f"--{name.replace('_', '-')}" for name in MODEL_OPTIONS if getattr(args, name) is not None]
        if given or args.mode or args.node_params:
            raise ValueError(f"{', '.join(given + (['--mode'] if args.mode else []))} describe a node to start: "
                             "with --use-running-node the running node's own parameters apply")
    elif args.checkpoint is None or args.kind is None:
        raise ValueError("--checkpoint DIR and --kind pisa|lisa are needed to start the perception node (or pass "
                         "--use-running-node to replay to one that is running)")
    if args.timeout <= 0 or args.retries < 0:
        raise ValueError("--timeout must be > 0 seconds and --retries >= 0")
    topics = BagTopics(**{name: getattr(args, f"{name}_topic") for name in _TOPICS.__dict__})
    config = ReplayConfig(
        source=args.source, dataset=args.dataset, out=args.out, split=args.split, instruction=args.instruction,
        limit=args.limit, timing=args.timing, rate=args.rate, topics=topics, annotations=args.annotations,
        sync_slop=args.sync_slop, timeout=args.timeout, retries=args.retries, qualitative=args.qualitative,
        method=args.method, write_bag=args.write_bag, progress=args.progress)
    config.check()
    return config


def node_parameters(args: argparse.Namespace) -> dict:
    """Parameters of the perception node this command starts."""
    device = args.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = args.dtype if args.dtype != "auto" else ("bfloat16" if device == "cuda" else "float32")
    parameters = {}
    if args.node_params is not None:
        import yaml

        document = yaml.safe_load(args.node_params.read_text()) or {}
        for section in document.values():
            parameters.update((section or {}).get("ros__parameters", {}))
    parameters.update(
        model_kind=args.kind, model_checkpoint=str(args.checkpoint.resolve()),
        model_vision_tower=str(args.vision_tower.resolve()) if args.vision_tower else "",
        model_dinov2=str(args.dinov2.resolve()) if args.dinov2 else "", model_device=device, model_dtype=dtype,
        model_mode=args.mode or default_mode(args.source), instruction_mode="sticky",
        input_reliability="reliable", sync_slop=args.sync_slop)
    return parameters


def run(args: argparse.Namespace) -> int:
    """Carry out ``instructpart replay``; return the exit status."""
    from .node_process import NodeProcess
    from .perception_client import PerceptionClient
    from .replay_session import replay_with_node, summary_line
    from .replay_transport import TopicTransport

    config = config_from_args(args)
    process = None
    if not args.use_running_node:
        config.out.mkdir(parents=True, exist_ok=True)
        log = config.out / "perception_node.log"
        process = NodeProcess(node_parameters(args), log_path=log)
        print(f"started the perception node (pid {process.pid}, log {log})", file=sys.stderr)

    def node_failure():
        if process is not None and not process.alive():
            return (f"the perception node exited with code {process.process.returncode}; last lines of "
                    f"{process.log_path}:\n{process.log_text()[-1500:]}")
        return None

    transport = TopicTransport(node_failure)
    try:
        with PerceptionClient("instructpart_replay", node_name=args.node_name, on_result=transport.on_result) as client:
            metrics = replay_with_node(config, client, transport, args.startup_timeout, node_failure)
    except RuntimeError as error:
        raise ValueError(str(error)) from None
    finally:
        if process is not None:
            process.close()
    print(summary_line(metrics))
    if metrics["failed"] or metrics["bad_entries"]:
        print(f"{len(metrics['failed'])} failed samples and {len(metrics['bad_entries'])} bad entries: listed in "
              f"{config.out / 'metrics.md'}", file=sys.stderr)
    print(f"wrote {config.out / 'metrics.json'}, {config.out / 'metrics.md'}, {config.out / 'qualitative.png'}")
    return 0
