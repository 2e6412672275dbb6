"""``instructpart grasps filter``: keep a planner's grasp candidates that close on a part, without ROS.

    instructpart grasps filter --grasps predictions.npz --convention contact_graspnet \\
        --frame ../shared/data/shapegrasp-knife --part-mask handle.png --out kept/

``--frame`` is a folder with color.png, depth_mm.png (millimetres, registered to the
colour image) and camera_info.yaml; ``--part-mask`` is 0 (background) / non-zero (part)
at the image's size, e.g. the perception node's ``part_mask``. ``--out`` gets
``kept.npy`` (the kept candidates in the input's format, best first, score replaced),
``report.json`` (the decision on every input candidate, in input order) and
``grasps.png`` (the kept grasps over the colour image, the best in magenta). The exit
status is 0 when a grasp was kept, 1 when none was (the files say why), 2 for bad input.
"""
from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np

from .conventions import CONVENTIONS
from .filter_config import SETTINGS, FilterConfig

NOTHING_KEPT = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``grasps``' sub-commands (``filter``) on ``parser``."""
    actions = parser.add_subparsers(dest="grasps_command", required=True, metavar="ACTION")
    command = actions.add_parser("filter", help="keep the candidates that close on the part, best first",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    files = command.add_argument_group("input and output")
    files.add_argument("--grasps", required=True, type=pathlib.Path, metavar="FILE",
                       help="graspnetAPI GraspGroup .npy, Contact-GraspNet result .npz, or a pose list "
                            "(.npz with poses/scores/widths, .yaml/.json like a GraspCandidates message)")
    files.add_argument("--convention", required=True, choices=CONVENTIONS,
                       help="gripper axis convention of the poses (see docs/grasping.md)")
    files.add_argument("--frame", required=True, type=pathlib.Path, metavar="DIR",
                       help="folder with color.png, depth_mm.png (millimetres) and camera_info.yaml")
    files.add_argument("--part-mask", required=True, type=pathlib.Path, metavar="PNG",
                       help="part mask at the image's size: 0 background, non-zero part")
    files.add_argument("--out", required=True, type=pathlib.Path, metavar="DIR",
                       help="folder for kept.npy, report.json and grasps.png")
    gates = command.add_argument_group("gates and scoring (defaults as in config/grasp_filter.yaml)")
    for setting in SETTINGS:
        flag = "--" + setting.name.replace("_", "-")
        if isinstance(setting.default, bool):
            gates.add_argument(flag, action=argparse.BooleanOptionalAction, default=setting.default,
                               help=setting.description)
        else:
            gates.add_argument(flag, type=type(setting.default), default=setting.default, metavar="VALUE",
                               help=f"{setting.description} (default {setting.default})")


def run(args: argparse.Namespace) -> int:
    import cv2

    from instructpart_ros.datasets.rgbd_images import read_rgbd_dir

    from .candidate_files import read_candidates, write_kept
    from .grasp_filter import filter_grasps
    from .gripper_drawing import draw_grasps
    from .part_scene import part_scene_from_depth

    config = FilterConfig.from_values({setting.name: getattr(args, setting.name) for setting in SETTINGS})
    frame = read_rgbd_dir(args.frame)
    rgb, depth, intrinsics = frame.rgb, frame.depth, frame.calibration.intrinsics()
    mask = read_part_mask(args.part_mask, depth.shape)
    candidates = read_candidates(args.grasps, args.convention, config.default_width)
    grasps = candidates.grasps(config.tcp_offset)
    part = part_scene_from_depth(depth, intrinsics, mask, config)
    result = filter_grasps(grasps, part, config)

    args.out.mkdir(parents=True, exist_ok=True)
    written = write_kept(candidates, result.kept, result.scores, args.out)
    report = {
        "grasps": str(args.grasps), "convention": args.convention, "frame": str(args.frame),
        "part_mask": str(args.part_mask), "num_candidates": len(candidates), "num_part_points": len(part.part_points),
        "widths_given": candidates.widths_given, "kept": result.kept.tolist(), "reason": result.reason,
        "settings": {setting.name: getattr(config, setting.name) for setting in SETTINGS},
        "candidates": result.report(),
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    picture = draw_grasps(rgb, intrinsics, grasps.take(result.kept), result.scores[result.kept])
    contours, _ = cv2.findContours(mask.view("uint8"), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(picture, contours, -1, (255, 255, 0), 1)
    cv2.imwrite(str(args.out / "grasps.png"), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    names = ", ".join(path.name for path in written + [args.out / "report.json", args.out / "grasps.png"])
    if not len(result.kept):
        print(f"no grasp kept: {result.reason}\nwrote {names} to {args.out}")
        return NOTHING_KEPT
    best = int(result.kept[0])
    print(f"kept {len(result.kept)} of {len(candidates)} candidates (best: #{best}, score "
          f"{result.scores[best]:.3f}, part share {result.part_share[best]:.2f})\nwrote {names} to {args.out}")
    return 0


def read_part_mask(path: pathlib.Path, shape) -> np.ndarray:
    """The mask PNG as a bool array of ``shape`` (non-zero = part)."""
    import cv2

    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise ValueError(f"cannot read the part mask {path}: expected a PNG")
    if mask.ndim != 2:
        raise ValueError(f"part mask {path} has {mask.shape[2]} channels: expected a single-channel image "
                         "(0 background, non-zero part)")
    if mask.shape != tuple(shape):
        raise ValueError(f"part mask {path} is {mask.shape[1]}x{mask.shape[0]} but the frame is "
                         f"{shape[1]}x{shape[0]}: the mask must be at the colour image's size")
    part = mask > 0
    if not part.any():
        raise ValueError(f"part mask {path} is empty (all 0): no part to grasp")
    return part
