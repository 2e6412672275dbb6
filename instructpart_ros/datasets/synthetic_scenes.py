"""Synthetic RGB-D table-top scenes with part masks and InstructPart-style instructions.

One object per image (knife, mug, kettle, screwdriver, spoon), seen from a camera
looking straight down at a table, at a random pose, size and colouring on a textured
background. Every scene is a pure function of ``(seed, index, config)``: the same
arguments give the same arrays on every machine, and the scene's name carries the seed
(``synth<seed>_<index:05d>``), so two seeds never share a scene.

    scene = render_scene(seed=0, index=7)
    scene.rgb, scene.depth_mm, scene.intrinsics, scene.parts["handle"], scene.annotations
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..evaluation.dataset import sample_id
from ..geometry import Intrinsics
from .synthetic_instructions import PART_SEMANTICS, PartAnnotation, annotate_part
from .synthetic_objects import OBJECT_NAMES, PartShape, build_object
from .synthetic_textures import background, part_colours, pixel_grid

MIN_SHORT_SIDE = 224      # InstructPart models see at least 224 px
REFERENCE_SHORT_SIDE = 240  # object sizes in synthetic_objects are for this short side
STEREO_BASELINE_MM = 50.0   # for the invalid depth band beside tall objects
_SUBPIXEL_BITS = 4


@dataclass(frozen=True)
class SceneConfig:
    """Image size, camera and object set of a synthetic split (the same for all its scenes)."""

    width: int = 320
    height: int = 240
    hfov_deg: float = 45.0
    table_depth_m: tuple[float, float] = (0.5, 0.8)
    objects: tuple[str, ...] = OBJECT_NAMES

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"scene {name} must be an integer number of pixels, got {value!r}")
        if min(self.width, self.height) < MIN_SHORT_SIDE:
            raise ValueError(f"scene size {self.width}x{self.height} is too small: the short "
                             f"side must be at least {MIN_SHORT_SIDE} px (e.g. --width 320 "
                             "--height 240)")
        if max(self.width, self.height) > 4 * min(self.width, self.height):
            raise ValueError(f"scene size {self.width}x{self.height}: the long side may be at most "
                             "4 times the short side")
        if not 20.0 <= self.hfov_deg <= 120.0:
            raise ValueError(f"hfov_deg must be between 20 and 120 degrees, got {self.hfov_deg}")
        near, far = self.table_depth_m
        if not 0.3 <= near <= far <= 3.0:
            raise ValueError(f"table_depth_m must be (near, far) with 0.3 <= near <= far <= 3.0 "
                             f"metres, got {self.table_depth_m}")
        unknown = [name for name in self.objects if name not in OBJECT_NAMES]
        if unknown or not self.objects:
            raise ValueError(f"unknown objects {unknown or '(none given)'}: choose from "
                             f"{', '.join(OBJECT_NAMES)}")

    @property
    def intrinsics(self) -> Intrinsics:
        """The pinhole camera: square pixels, ``hfov_deg`` across, principal point at the centre."""
        focal = (self.width / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)
        return Intrinsics(focal, focal, (self.width - 1) / 2.0, (self.height - 1) / 2.0)


@dataclass(frozen=True)
class SyntheticScene:
    """One rendered scene: colour, registered depth, camera, part masks and annotations."""

    stem: str
    seed: int
    index: int
    rgb: np.ndarray             # (H, W, 3) uint8
    depth_mm: np.ndarray        # (H, W) uint16 millimetres, 0 = no measurement
    intrinsics: Intrinsics
    object_name: str
    parts: dict[str, np.ndarray] = field(repr=False)   # part name -> (H, W) bool, disjoint
    annotations: dict[str, PartAnnotation] = field(repr=False)
    table_depth_mm: float = 0.0  # table distance at the image centre
    background: str = ""

    @property
    def image_name(self) -> str:
        """The scene image's file name as ``data_<split>.json`` records it."""
        return f"{self.stem}.jpg"

    def sample_ids(self) -> dict[str, str]:
        """Part name -> dataset sample id (``<stem>-<object>-<part>``)."""
        return {part: sample_id(self.image_name, self.object_name, part) for part in self.parts}

    def entry(self) -> dict:
        """The scene's ``data_<split>.json`` entry."""
        return {"image_path": self.image_name,
                "part_list": [self.annotations[part].as_json() for part in self.parts]}


def scene_stem(seed: int, index: int) -> str:
    """The file stem of scene ``index`` of ``seed``."""
    return f"synth{seed}_{index:05d}"


def object_parts(object_name: str) -> tuple[str, ...]:
    """The part names of an object in annotation order."""
    return tuple(part for obj, part in PART_SEMANTICS if obj == object_name)


def render_scene(seed: int, index: int, config: SceneConfig | None = None) -> SyntheticScene:
    """Render scene ``index`` of ``seed``; the object cycles through ``config.objects``."""
    config = config or SceneConfig()
    for name, value in (("seed", seed), ("index", index)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    draw_seq, text_seq = np.random.SeedSequence([int(seed), int(index)]).spawn(2)
    rng, text_rng = np.random.default_rng(draw_seq), np.random.default_rng(text_seq)
    object_name = config.objects[index % len(config.objects)]
    shapes = build_object(object_name, rng)
    height, width = config.height, config.width

    pose = _place(shapes, config, rng)
    labels, details_shade, details_height = _rasterise(shapes, pose, height, width)
    masks = [labels == k + 1 for k in range(len(shapes))]
    profiles = [_rounded_profile(mask) for mask in masks]

    rgb, background_kind = _colour_image(shapes, pose, masks, profiles, details_shade, rng,
                                         height, width)
    intrinsics = config.intrinsics
    depth, table_mm = _depth_image(shapes, masks, profiles, details_height, intrinsics,
                                   config, rng)

    by_name = {shape.name: mask for shape, mask in zip(shapes, masks)}
    order = object_parts(object_name)
    return SyntheticScene(
        stem=scene_stem(int(seed), int(index)), seed=int(seed), index=int(index), rgb=rgb,
        depth_mm=depth, intrinsics=intrinsics, object_name=object_name,
        parts={part: by_name[part] for part in order},
        annotations={part: annotate_part(object_name, part, text_rng) for part in order},
        table_depth_mm=table_mm, background=background_kind)


# --- pose and rasterisation -------------------------------------------------------------

@dataclass
class _Pose:
    angle: float
    flip: float
    scale: float
    centre: np.ndarray

    def apply(self, points: np.ndarray) -> np.ndarray:
        c, s = math.cos(self.angle), math.sin(self.angle)
        local = points * (self.scale, self.scale * self.flip)
        return local @ np.array([[c, s], [-s, c]]) + self.centre

    def local(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Object-frame coordinates (unscaled pixels) of image pixel grids."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        dx, dy = xs - self.centre[0], ys - self.centre[1]
        return (dx * c + dy * s), (-dx * s + dy * c) * self.flip


def _place(shapes: list[PartShape], config: SceneConfig, rng: np.random.Generator) -> _Pose:
    """A random rotation, mirror and size that fits the whole object inside the image."""
    unit = min(config.width, config.height) / REFERENCE_SHORT_SIDE
    margin = 6.0 * unit
    points = np.concatenate([p for shape in shapes for p in shape.polygons])
    room = np.array([config.width, config.height]) - 2.0 * margin
    flip = float(rng.choice((-1.0, 1.0)))
    scale = unit * rng.uniform(1.0, 1.25)
    for _ in range(50):
        pose = _Pose(rng.uniform(0.0, 2.0 * math.pi), flip, scale, np.zeros(2))
        placed = pose.apply(points)
        low, high = placed.min(axis=0), placed.max(axis=0)
        if np.all(high - low <= room):
            break
    else:  # no rotation fits: keep the last one and shrink the object until it does
        pose.scale *= float(np.min(room / (high - low)))
        placed = pose.apply(points)
        low, high = placed.min(axis=0), placed.max(axis=0)
    slack = room - (high - low)
    pose.centre = margin - low + rng.uniform(0.0, 1.0, 2) * slack
    return pose


def _fill(image: np.ndarray, polygons: list[np.ndarray], value) -> None:
    pts = [np.round(p * (1 << _SUBPIXEL_BITS)).astype(np.int32) for p in polygons]
    cv2.fillPoly(image, pts, value, lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)


def _rasterise(shapes: list[PartShape], pose: _Pose, height: int, width: int):
    """Part label image (k + 1 = shapes[k]; later parts cover earlier ones), the details'
    brightness factors and their height overrides (NaN where none)."""
    labels = np.zeros((height, width), np.uint8)
    for k, shape in enumerate(shapes):
        _fill(labels, [pose.apply(p) for p in shape.polygons], k + 1)
    for k in range(len(shapes)):   # a covered part may peep out in stray pixels: drop them
        part = (labels == k + 1).astype(np.uint8)
        count, pieces, stats, _ = cv2.connectedComponentsWithStats(part)
        if count > 2:
            largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            labels[(pieces > 0) & (pieces != largest)] = 0
    shade = np.ones((height, width), np.float32)
    override = np.full((height, width), np.nan, np.float32)
    scratch = np.zeros((height, width), np.uint8)
    for k, shape in enumerate(shapes):
        for detail in shape.details:
            scratch[:] = 0
            _fill(scratch, [pose.apply(detail.polygon)], 1)
            inside = (scratch > 0) & (labels == k + 1)
            shade[inside] *= detail.shade
            if detail.height_mm is not None:
                override[inside] = detail.height_mm
    return labels, shade, override


def _padded_box(mask: np.ndarray, pad: int) -> tuple[slice, slice]:
    """The bounding box of ``mask`` grown by ``pad`` pixels, clipped to the image."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return (slice(max(rows[0] - pad, 0), min(rows[-1] + pad + 1, mask.shape[0])),
            slice(max(cols[0] - pad, 0), min(cols[-1] + pad + 1, mask.shape[1])))


def _rounded_profile(mask: np.ndarray) -> np.ndarray:
    """0 at a part's rim rising to 1 along its middle, like the top of a cylinder."""
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    radius = max(float(distance.max()), 1.0)
    t = np.minimum(distance / radius, 1.0)
    return np.sqrt(1.0 - (1.0 - t) ** 2).astype(np.float32)


# --- colour -----------------------------------------------------------------------------

def _colour_image(shapes, pose, masks, profiles, details_shade, rng, height,
                  width) -> tuple[np.ndarray, str]:
    """The colour image (uint8 RGB) and the kind of background drawn."""
    materials = [shape.materials[rng.integers(len(shape.materials))] for shape in shapes]
    shades = [shape.shades() for shape in shapes]
    for _ in range(100):   # almost always the first try
        colours, looks = part_colours(materials, shades, rng)
        drawn = background(rng, height, width, looks)
        if drawn is not None:
            kind, image = drawn
            break
    else:
        raise RuntimeError(f"no background contrasts with the parts' colours {looks}")

    union = np.any(masks, axis=0).astype(np.float32)
    light = rng.uniform(0.0, 2.0 * math.pi)
    unit = min(height, width) / REFERENCE_SHORT_SIDE
    offset = rng.uniform(3.0, 7.0) * unit
    shift = np.float32([[1, 0, -offset * math.cos(light)], [0, 1, -offset * math.sin(light)]])
    shadow = cv2.GaussianBlur(cv2.warpAffine(union, shift, (width, height)), (0, 0), 3.0 * unit)
    image *= (1.0 - rng.uniform(0.25, 0.45) * shadow)[..., None]

    size = max(height, width) / 2.0
    light_x, light_y = math.cos(light) / size, math.sin(light) / size
    grid_ys, grid_xs = pixel_grid(height, width)
    for material, colour, mask, profile in zip(materials, colours, masks, profiles):
        window = _padded_box(mask, 2)
        ys, xs = grid_ys[window], grid_xs[window]
        gradient = (xs - pose.centre[0]) * light_x + (ys - pose.centre[1]) * light_y
        shade = (0.78 + 0.22 * profile[window]) * (1.0 + 0.15 * gradient) * details_shade[window]
        field = colour.astype(np.float32) * shade[..., None]
        if material == "metal":
            field += (70.0 * profile[window] ** 8)[..., None]
        elif material == "wood":
            along, across = pose.local(xs, ys)
            grain = np.sin(2.0 * np.pi * (across + 3.0 * np.sin(along / 17.0)) / rng.uniform(4, 7))
            field *= (1.0 + 0.08 * grain.astype(np.float32))[..., None]
        alpha = cv2.GaussianBlur(mask[window].astype(np.float32), (3, 3), 0.7)[..., None]
        image[window] = image[window] * (1.0 - alpha) + field * alpha
    image += rng.standard_normal(image.shape, dtype=np.float32) * 2.5
    return np.clip(image + 0.5, 0, 255).astype(np.uint8), kind


# --- depth ------------------------------------------------------------------------------

def _depth_image(shapes, masks, profiles, details_height, intrinsics: Intrinsics,
                 config: SceneConfig, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Depth in millimetres: a slightly tilted table, parts raised by their heights, sensor
    noise, and the invalid (0) pixels of a stereo depth camera."""
    height, width = config.height, config.width
    near, far = config.table_depth_m
    table_mm = rng.uniform(near, far) * 1000.0
    tilt = rng.uniform(-12.0, 12.0, 2) / (width / 2.0)   # at most ~12 mm across half the image
    ys, xs = pixel_grid(height, width)
    table = table_mm + tilt[0] * (xs - intrinsics.cx) + tilt[1] * (ys - intrinsics.cy)

    raised = np.zeros((height, width), np.float32)
    for shape, mask, profile in zip(shapes, masks, profiles):
        top = shape.height_mm * ((1.0 - shape.roundness) + shape.roundness * profile)
        raised[mask] = top[mask]
    has_override = ~np.isnan(details_height)
    raised[has_override] = details_height[has_override]
    noise_mm = 0.6 + 1.5 * (table_mm / 1000.0) ** 2
    depth = table - raised + rng.standard_normal((height, width), dtype=np.float32) * noise_mm

    invalid = rng.random((height, width)) < rng.uniform(0.002, 0.01)
    invalid[:, :int(rng.integers(0, int(0.06 * width) + 1))] = True
    union = np.any(masks, axis=0)
    tallest = max(shape.height_mm for shape in shapes)
    occlusion = round(intrinsics.fx * STEREO_BASELINE_MM * tallest / table_mm ** 2)
    if occlusion > 0:   # the strip beside a tall object that only one stereo camera sees
        shadowed = np.zeros_like(union)
        shadowed[:, :-occlusion] = union[:, occlusion:]
        invalid |= shadowed & ~union
    depth_mm = np.clip(np.rint(depth), 1, 65535).astype(np.uint16)
    depth_mm[invalid] = 0
    return depth_mm, float(table_mm)
