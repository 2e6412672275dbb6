"""``make demo``: the perception node on one RGB-D frame, end to end over DDS.

Starts the node in its own process, plays a frame to it (the one given with
--color/--depth/--camera-info, else the real knife frame when the shared data is there,
else a synthetic table-top frame), sends the instruction, receives the
``PartSegmentation`` and writes to ``--out``: ``overlay.png``, ``part_points.ply``,
``summary.json`` and the node's log.

Without weights (--lisa or --pisa) it uses a tiny model written on the spot. Whether the
model is trained comes from the node (``model_warning`` on /diagnostics, from the
checkpoint's provenance.json): an untrained one, such as the tiny random PISA, is warned
about in the output, the overlay and summary.json.
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
TINY_NOTE = ("no weights given, so this ran the package's tiny built-in model, which has never seen real images. "
             "Pass --pisa/--lisa (make demo PISA=... or LISA=...) for real results.")
FRAME_PERIOD_S = 0.5
TINY_PATHS = ("model_checkpoint", "model_vision_tower", "model_dinov2")


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


def model_parameters(args: argparse.Namespace, workdir: pathlib.Path) -> dict:
    """Node parameters for the given weights, or for a tiny random model written to ``workdir``."""
    import torch

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = "bfloat16" if device == "cuda" else "float32"
    if args.lisa or args.pisa:
        return dict(model_kind="lisa" if args.lisa else "pisa", model_checkpoint=str(args.lisa or args.pisa),
                    model_vision_tower=str(args.clip or ""), model_dinov2=str(args.dinov2 or ""),
                    model_device=device, model_dtype=dtype, model_mode="generate")
    from .node_process import tiny_model_parameters

    return dict(tiny_model_parameters(workdir / "tiny_pisa"), model_device=device, model_dtype=dtype,
                model_mode="generate")


def run_demo(args: argparse.Namespace) -> dict:
    """Run the node on the frame and write the outputs; returns the summary."""
    from .node_process import NodeProcess, wait_until
    from .perception_client import PerceptionClient

    os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    frame, frame_source = choose_frame(args)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="instructpart_demo_") as workdir:
        parameters = model_parameters(args, pathlib.Path(workdir))
        tiny = not (args.lisa or args.pisa)
        parameters.update(instruction_mode="once", publish_markers=False)
        started = time.monotonic()
        with NodeProcess(parameters, log_path=args.out / "node.log") as node, PerceptionClient("demo_player") as client:
            print(f"demo: starting the perception node ({parameters['model_kind']} on {parameters['model_device']}), "
                  f"frame: {frame_source}")
            wait_until(lambda: client.lifecycle_state() == "active", args.timeout, node, "the node to become active")
            wait_until(client.connected, 30, node, "the node's topics to connect")
            ready_s = time.monotonic() - started
            stamp = time.time_ns()
            diagnostics = {}

            def frame_synchronised():
                nonlocal stamp, diagnostics
                stamp = time.time_ns()
                client.publish_frame(frame.messages(stamp))
                diagnostics = client.latest_diagnostics()
                return int(diagnostics.get("frames_synchronised", 0)) > 0

            wait_until(frame_synchronised, 30, node, "the node to receive the frame", period=FRAME_PERIOD_S)
            # Published after activation (it counts our frame): the loaded model's warning, if any.
            model_warning = diagnostics.get("model_warning", "")
            sent = time.monotonic()
            client.publish_instruction(args.instruction)
            received = client.wait_for_result(lambda msg: msg.instruction == args.instruction, args.timeout)
            round_trip_ms = (received.at - sent) * 1e3
        summary = write_outputs(args.out, frame, received.msg, dict(
            frame_source=frame_source, tiny=tiny, model_warning=model_warning, parameters=parameters,
            node_ready_s=round(ready_s, 2),
            instruction_to_result_ms=round(round_trip_ms, 1)))
    return summary


def write_outputs(out: pathlib.Path, frame, result, context: dict) -> dict:
    """overlay.png, part_points.ply and summary.json in ``out``."""
    from .conversions import image_to_numpy, pointcloud2_to_points
    from .overlay import overlay_mask

    mask = np.zeros(frame.rgb.shape[:2], bool) if result.mask.width == 0 else image_to_numpy(result.mask) > 0
    overlay = overlay_mask(frame.rgb, mask)
    lines = [f"instruction: {result.instruction}", f"answer: {result.answer}", f"status: {result.status}"]
    if context["model_warning"]:
        lines.append("UNTRAINED MODEL: this mask is noise")
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
        "model": {key: ("(tiny, in a temporary folder)" if context["tiny"] and key in TINY_PATHS else value)
                  for key, value in context["parameters"].items() if key.startswith("model_")},
        "tiny_model": context["tiny"],
        "untrained": bool(context["model_warning"]),
        "warning": context["model_warning"],
        "files": ["overlay.png", "part_points.ply", "summary.json", "node.log"],
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
    if summary["tiny_model"]:
        print(f"demo: NOTE {TINY_NOTE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
