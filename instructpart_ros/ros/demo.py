"""``make demo``: the perception node on RGB-D frames, end to end over DDS.

Starts the node in its own process and plays frames to it over DDS, sends instructions,
receives the ``PartSegmentation`` results and writes to ``--out``.

Without weights (--lisa or --pisa) it serves models/pisa-tiny-synth, the tiny PISA trained
on ``instructpart synth`` scenes (from the source tree, else the colcon install's
share/instructpart_ros/models). First it renders a held-out synthetic RGB-D scene (a seed
training never used), asks for each of the object's two parts with its task instruction and
writes ``synth_overlay.png`` (both masks, labelled) and, in summary.json, the part each mask
selected and whether it is the right one. Then it plays the real frame, which this tiny model
has never seen the like of. When that folder is missing it falls back, saying so, to a tiny
random model written on the spot.

The real frame is the one given with --color/--depth/--camera-info, else the real knife
frame when the shared data is there, else a synthetic table-top frame: ``overlay.png``,
``part_points.ply``, ``summary.json`` and the node's log. Whether the model is trained comes
from the node (``model_warning`` on /diagnostics, from the checkpoint's provenance.json): an
untrained one, such as the tiny random PISA, is warned about in the output, the overlay and
summary.json.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time
from typing import Optional

import cv2
import numpy as np

INSTRUCTION = "If I want to cut the bread, which part of the knife should I hold?"
SYNTH_MODEL = ("models", "pisa-tiny-synth")
REAL_WEIGHTS = "Pass --pisa/--lisa (make demo PISA=... or LISA=...) for real results."
SYNTH_NOTE = ("no weights given, so this ran models/pisa-tiny-synth, a tiny PISA trained only on synthetic "
              "`instructpart synth` scenes: it has NEVER SEEN A REAL IMAGE, so its mask on the real frame means "
              f"nothing. {REAL_WEIGHTS}")
TINY_NOTE = ("no weights given, so this ran the package's tiny built-in model, which has never seen real images. "
             + REAL_WEIGHTS)
MISSING_MODEL = ("models/pisa-tiny-synth was found neither next to the sources nor in share/instructpart_ros of "
                 "AMENT_PREFIX_PATH, so this runs a tiny RANDOM model instead (its masks are noise). Restore it "
                 "(git checkout models/, then make setup) or rebuild it: "
                 "python bench/train_tiny_synth.py --keep models/pisa-tiny-synth")
FRAME_PERIOD_S = 0.5
TINY_PATHS = ("model_checkpoint", "model_vision_tower", "model_dinov2")
TRIES = 3  # an instruction answered on an earlier frame is asked again


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m instructpart_ros.ros.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    weights = parser.add_argument_group("model weights (local directories; none = tiny random model)")
    weights.add_argument("--lisa", type=pathlib.Path, help="LISA-7B-v1 checkpoint directory")
    weights.add_argument("--pisa", type=pathlib.Path, help="PISA checkpoint directory")
    weights.add_argument("--clip", type=pathlib.Path, help="CLIP ViT-L/14 directory (default: the checkpoint's)")
    weights.add_argument("--dinov2", type=pathlib.Path, help="DINOv2 directory for PISA (default: the checkpoint's)")
    frame = parser.add_argument_group("frame (default: the shared knife frame, else a synthetic one)")
    frame.add_argument("--color", type=pathlib.Path, help="colour image (PNG/JPEG)")
    frame.add_argument("--depth", type=pathlib.Path, help="16-bit depth PNG in millimetres, registered to colour")
    frame.add_argument("--camera-info", type=pathlib.Path, help="camera_info YAML of the colour camera")
    frame.add_argument("--data", type=pathlib.Path, default=os.environ.get("INSTRUCTPART_DATA"),
                       help="shared data folder holding shapegrasp-knife/ (default: $INSTRUCTPART_DATA, "
                            "else ../shared/data)")
    parser.add_argument("--instruction", default=INSTRUCTION, help="task instruction (default: %(default)r)")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto",
                        help="auto: cuda when torch sees a GPU, else cpu")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("demo_output"), help="output folder")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for model load and result")
    args = parser.parse_args(argv)
    if args.lisa and args.pisa:
        parser.error("give --lisa or --pisa, not both")
    if args.dinov2 and not args.pisa:
        parser.error("--dinov2 is for PISA: give --pisa DIR as well")
    if (args.clip) and not (args.lisa or args.pisa):
        parser.error("--clip needs --lisa DIR or --pisa DIR")
    given = [name for name in ("color", "depth", "camera_info") if getattr(args, name)]
    if given and len(given) != 3:
        parser.error("--color, --depth and --camera-info go together: give all three")
    return args


def choose_frame(args: argparse.Namespace):
    """``(RgbdFrame, description)``: the user's frame, else the knife frame, else the synthetic one."""
    from .rgbd_frame import find_knife_dir, knife_frame, load_rgbd_frame
    from .synthetic_scene import synthetic_knife_frame

    if args.color:
        return load_rgbd_frame(args.color, args.depth, args.camera_info), f"user frame {args.color}"
    knife = find_knife_dir(args.data)
    if knife is not None:
        return knife_frame(knife), f"real ShapeGrasp knife frame {knife.resolve()}"
    return synthetic_knife_frame(), "synthetic table-top knife frame (no data folder found)"


def find_tiny_model() -> Optional[pathlib.Path]:
    """models/pisa-tiny-synth: in the source tree, else in an installed share/instructpart_ros; or None."""
    from instructpart_ros.package_files import find_share_dir

    folder = find_share_dir(*SYNTH_MODEL)
    return folder if folder is not None and (folder / "checkpoint" / "config.json").is_file() else None


def model_parameters(args: argparse.Namespace, workdir: pathlib.Path, synth_model: Optional[pathlib.Path]) -> dict:
    """Node parameters for the given weights, else for ``synth_model``, else for a tiny random model
    written to ``workdir``."""
    import torch

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = "bfloat16" if device == "cuda" else "float32"
    runtime = dict(model_device=device, model_dtype=dtype, model_mode="generate")
    if args.lisa or args.pisa:
        return dict(model_kind="lisa" if args.lisa else "pisa", model_checkpoint=str(args.lisa or args.pisa),
                    model_vision_tower=str(args.clip or ""), model_dinov2=str(args.dinov2 or ""), **runtime)
    if synth_model is not None:
        return dict(model_kind="pisa", model_checkpoint=str(synth_model / "checkpoint"),
                    model_vision_tower=str(synth_model / "vision_tower"),
                    model_dinov2=str(synth_model / "dinov2"), **runtime)
    from .node_process import tiny_model_parameters

    return dict(tiny_model_parameters(workdir / "tiny_pisa"), **runtime)


def run_demo(args: argparse.Namespace) -> dict:
    """Run the node on the held-out synthetic scene (tiny synth model only) and the frame; write the outputs."""
    from .node_process import NodeProcess, wait_until
    from .perception_client import PerceptionClient

    os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    frame, frame_source = choose_frame(args)
    args.out.mkdir(parents=True, exist_ok=True)
    tiny = not (args.lisa or args.pisa)
    synth_model = find_tiny_model() if tiny else None
    if tiny and synth_model is None:
        print(f"demo: {MISSING_MODEL}")
    with tempfile.TemporaryDirectory(prefix="instructpart_demo_") as workdir:
        parameters = model_parameters(args, pathlib.Path(workdir), synth_model)
        parameters.update(instruction_mode="once", publish_markers=False)
        started = time.monotonic()
        with NodeProcess(parameters, log_path=args.out / "node.log") as node, PerceptionClient("demo_player") as client:
            print(f"demo: starting the perception node ({parameters['model_kind']} on {parameters['model_device']}"
                  f"{', ' + str(synth_model) if synth_model else ''})")
            wait_until(lambda: client.lifecycle_state() == "active", args.timeout, node, "the node to become active")
            wait_until(client.connected, 30, node, "the node's topics to connect")
            ready_s = time.monotonic() - started
            synth = None
            if synth_model is not None:
                synth = run_synth_scene(client, node, args)
            print(f"demo: frame {frame_source}")
            received, round_trip_ms, diagnostics = ask(client, node, frame, args.instruction, args.timeout)
            # Published after activation (it counts our frame): the loaded model's warning, if any.
            model_warning = diagnostics.get("model_warning", "")
        summary = write_outputs(args.out, frame, received, dict(
            frame_source=frame_source, tiny=tiny, synth_model=synth_model, model_warning=model_warning,
            parameters=parameters, node_ready_s=round(ready_s, 2), instruction_to_result_ms=round(round_trip_ms, 1),
            synth=synth))
    return summary


def play_frame(client, node, frame) -> tuple[set, dict]:
    """Publish ``frame`` (fresh stamps) until the node's /diagnostics count one more synchronised frame;
    returns the stamps sent and the diagnostics that counted it."""
    from .node_process import wait_until

    baseline = int(client.latest_diagnostics().get("frames_synchronised", 0))
    stamps, diagnostics = set(), {}

    def synchronised():
        nonlocal diagnostics
        stamp = time.time_ns()
        stamps.add(stamp)
        client.publish_frame(frame.messages(stamp))
        diagnostics = client.latest_diagnostics()
        return int(diagnostics.get("frames_synchronised", 0)) > baseline

    wait_until(synchronised, 30, node, "the node to receive the frame", period=FRAME_PERIOD_S)
    return stamps, diagnostics


def ask(client, node, frame, instruction: str, timeout: float):
    """Play ``frame``, send ``instruction`` (``once`` mode: answered on the node's latest frame) and
    return ``(PartSegmentation, instruction -> result ms, diagnostics)``. A result computed on an earlier
    frame (a diagnostics message that lagged) is asked for again."""
    for _ in range(TRIES):
        stamps, diagnostics = play_frame(client, node, frame)
        start = client.result_count()
        sent = time.monotonic()
        client.publish_instruction(instruction)
        received = client.wait_for_result(lambda msg: msg.instruction == instruction, timeout, start=start)
        stamp = received.msg.header.stamp
        if stamp.sec * 1_000_000_000 + stamp.nanosec in stamps:
            return received.msg, (received.at - sent) * 1e3, diagnostics
    raise RuntimeError(f"the node answered {instruction!r} {TRIES} times on another frame than the one played")


def run_synth_scene(client, node, args: argparse.Namespace) -> dict:
    """The held-out synthetic scene, one instruction per part: ``synth_overlay.png`` and the verdicts."""
    from .conversions import image_to_numpy
    from .demo_synth import SCENE_INDEX, SCENE_SEED, demo_instructions, held_out_scene, judge, synth_overlay
    from .synthetic_scene import synth_scene_frame

    scene = held_out_scene()
    frame = synth_scene_frame(scene)
    print(f"demo: held-out synthetic scene {scene.stem} (seed {SCENE_SEED}, which training never used): "
          f"a {scene.object_name}")
    results, masks = [], []
    for part, instruction in demo_instructions(scene):
        msg, round_trip_ms, _ = ask(client, node, frame, instruction, args.timeout)
        mask = np.zeros(scene.rgb.shape[:2], bool) if msg.mask.width == 0 else image_to_numpy(msg.mask) > 0
        verdict = judge(mask, scene, part)
        masks.append(mask)
        results.append({"instruction": instruction, **verdict, "status": msg.status, "answer": msg.answer,
                        "score": round(float(msg.score), 4), "num_points": int(msg.num_points),
                        "centroid_m": [msg.pose.position.x, msg.pose.position.y, msg.pose.position.z],
                        "instruction_to_result_ms": round(round_trip_ms, 1)})
        print(f"demo:   {instruction!r} -> mask on the {verdict['selected_part'] or 'no part'} "
              f"(wanted: the {part}): {'RIGHT' if verdict['correct'] else 'WRONG'}")
    title = (f"held-out synth scene {scene.stem} (seed {SCENE_SEED}, never trained on), "
             "models/pisa-tiny-synth over DDS")
    overlay = synth_overlay(scene, masks, [r["instruction"] for r in results], results, title)
    cv2.imwrite(str(args.out / "synth_overlay.png"), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
    return {"scene": scene.stem, "seed": SCENE_SEED, "index": SCENE_INDEX, "object": scene.object_name,
            "width": int(scene.rgb.shape[1]), "height": int(scene.rgb.shape[0]), "overlay": "synth_overlay.png",
            "results": results, "all_correct": all(r["correct"] for r in results)}


def write_outputs(out: pathlib.Path, frame, result, context: dict) -> dict:
    """overlay.png, part_points.ply and summary.json in ``out``."""
    from .conversions import image_to_numpy, pointcloud2_to_points
    from .overlay import overlay_mask

    random_tiny = context["tiny"] and context["synth_model"] is None

    mask = np.zeros(frame.rgb.shape[:2], bool) if result.mask.width == 0 else image_to_numpy(result.mask) > 0
    overlay = overlay_mask(frame.rgb, mask)
    lines = [f"instruction: {result.instruction}", f"answer: {result.answer}", f"status: {result.status}"]
    if context["model_warning"]:
        lines.append("UNTRAINED MODEL: this mask is noise")
    elif context["synth_model"] is not None:
        lines.append("TINY MODEL TRAINED ON SYNTHETIC SCENES ONLY: never saw a real image, this mask means nothing")
    overlay[: 12 + 24 * len(lines)] //= 3  # a dark band keeps the text readable
    for row, line in enumerate(lines):
        cv2.putText(overlay, line[:110], (10, 25 + 24 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1,
                    cv2.LINE_AA)
    cv2.imwrite(str(out / "overlay.png"), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
    points, colors = pointcloud2_to_points(result.points)
    write_ply(out / "part_points.ply", points, colors)
    pose = result.pose
    summary = {
        "instruction": result.instruction,
        "answer": result.answer,
        "status": result.status,
        "score": round(float(result.score), 4),
        "mask_pixels": int(mask.sum()),
        "num_points": int(result.num_points),
        "roi": {"x": result.roi.x_offset, "y": result.roi.y_offset,
                "width": result.roi.width, "height": result.roi.height},
        "centroid_m": [pose.position.x, pose.position.y, pose.position.z],
        "orientation_xyzw": [pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w],
        "extent_m": [result.extent.x, result.extent.y, result.extent.z],
        "timings_ms": {"model": round(float(result.inference_ms), 1),
                       "frame_to_result_in_node": round(float(result.total_ms), 1),
                       "instruction_to_result": context["instruction_to_result_ms"]},
        "node_ready_s": context["node_ready_s"],
        "frame": {"source": context["frame_source"], "width": int(frame.rgb.shape[1]),
                  "height": int(frame.rgb.shape[0]), "frame_id": result.header.frame_id},
        "model": {key: ("(tiny, in a temporary folder)" if random_tiny and key in TINY_PATHS else value)
                  for key, value in context["parameters"].items() if key.startswith("model_")},
        "tiny_model": context["tiny"],
        "tiny_model_dir": str(context["synth_model"]) if context["synth_model"] is not None else None,
        "untrained": bool(context["model_warning"]),
        "warning": context["model_warning"],
        "note": (SYNTH_NOTE if context["synth_model"] is not None else TINY_NOTE) if context["tiny"] else "",
        "synth": context["synth"],
        "files": (["synth_overlay.png"] if context["synth"] else []) +
                 ["overlay.png", "part_points.ply", "summary.json", "node.log"],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def write_ply(path: pathlib.Path, points: np.ndarray, colors: Optional[np.ndarray]) -> None:
    """Binary PLY of the points (open3d); an empty cloud gets a valid zero-vertex file."""
    if len(points) == 0:  # open3d refuses to write an empty cloud
        path.write_text("ply\nformat ascii 1.0\ncomment no part points\nelement vertex 0\n"
                        "property float x\nproperty float y\nproperty float z\nend_header\n")
        return
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points.astype(np.float64)))
    if colors is not None:
        cloud.colors = o3d.utility.Vector3dVector(colors.astype(np.float64) / 255.0)
    if not o3d.io.write_point_cloud(str(path), cloud):
        raise OSError(f"open3d could not write {path}")


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        summary = run_demo(args)
    except (TimeoutError, RuntimeError, ValueError, FileNotFoundError) as error:
        print(f"demo failed: {error}", file=sys.stderr)
        return 1
    print(f"demo: {summary['status']}; answer {summary['answer']!r}; {summary['mask_pixels']} mask pixels, "
          f"{summary['num_points']} part points; model {summary['timings_ms']['model']} ms, instruction -> result "
          f"{summary['timings_ms']['instruction_to_result']} ms")
    print(f"demo: wrote {', '.join(summary['files'])} to {args.out}/")
    if summary["warning"]:
        print(f"demo: WARNING {summary['warning']}")
    if summary["note"]:
        print(f"demo: NOTE {summary['note']}")
    synth = summary["synth"]
    if synth is not None and not synth["all_correct"]:
        print(f"demo: WARNING on the held-out synthetic {synth['object']} the tiny model picked a wrong part "
              "(see synth_overlay.png)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
