"""The objects of the synthetic scenes, drawn from above as 2-D part outlines.

Each builder returns the object's parts in local coordinates (pixels at the reference
scale, long axis along +x, centred on the origin), in drawing order: a later part
covers an earlier one where they meet, which keeps part masks disjoint. Widths are at
least 22 units, so every part stays about 20 px thick or more at the default 320x240.
Each part also says how it looks (candidate materials, small darker or lighter
details) and how tall it stands above the table (for the depth image).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

CIRCLE_POINTS = 48


@dataclass(frozen=True)
class Detail:
    """A small region drawn inside a part: a brightness factor and, optionally, its own height."""

    polygon: np.ndarray
    shade: float
    height_mm: float | None = None


@dataclass(frozen=True)
class PartShape:
    """One part of an object: outline polygons, look and height above the table."""

    name: str
    polygons: list[np.ndarray]
    materials: tuple[str, ...]        # candidates, one is drawn per scene
    height_mm: float                  # top of the part above the table
    roundness: float                  # 0 flat top, 1 fully rounded across its width
    details: list[Detail] = field(default_factory=list)

    def shades(self) -> tuple[float, ...]:
        """Brightness factors covering much of the part (its shaded body, large details):
        the part must contrast with its surroundings under each of them."""
        area = sum(polygon_area(p) for p in self.polygons)
        return (1.0, SHADED) + tuple(d.shade for d in self.details
                                     if polygon_area(d.polygon) >= 0.2 * area)


SHADED = 0.85   # a typical brightness of a part's shaded side


def polygon_area(points: np.ndarray) -> float:
    """Area enclosed by a polygon (shoelace formula)."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


# --- outline helpers (float arrays of (x, y) points) ------------------------------------

def ellipse(cx: float, cy: float, rx: float, ry: float, points: int = CIRCLE_POINTS) -> np.ndarray:
    """An ellipse outline."""
    angles = np.linspace(0.0, 2.0 * np.pi, points, endpoint=False)
    return np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], axis=1)


def _arc(cx: float, cy: float, radius: float, start: float, stop: float, points: int = 10):
    angles = np.linspace(start, stop, points)
    return np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], axis=1)


def bar(x0: float, x1: float, width0: float, width1: float | None = None,
        round0: float = 0.0, round1: float = 0.0) -> np.ndarray:
    """A bar along x from ``x0`` to ``x1``, centred on y = 0, its width going from ``width0``
    to ``width1``; ``round0``/``round1`` in [0, 1] round its ends (1 = a half disc)."""
    width1 = width0 if width1 is None else width1
    h0, h1 = width0 / 2.0, width1 / 2.0
    r0, r1 = round0 * h0, round1 * h1
    outline = []
    if r1 > 0:   # right end: from the bottom corner round to the top corner
        outline += [_arc(x1 - r1, h1 - r1, r1, 0.5 * np.pi, 0.0),
                    _arc(x1 - r1, -h1 + r1, r1, 0.0, -0.5 * np.pi)]
    else:
        outline += [np.array([[x1, h1], [x1, -h1]])]
    if r0 > 0:
        outline += [_arc(x0 + r0, -h0 + r0, r0, -0.5 * np.pi, -np.pi),
                    _arc(x0 + r0, h0 - r0, r0, np.pi, 0.5 * np.pi)]
    else:
        outline += [np.array([[x0, -h0], [x0, h0]])]
    return np.concatenate(outline)


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


# --- the objects ------------------------------------------------------------------------

def knife(rng: np.random.Generator) -> list[PartShape]:
    handle_len, handle_w = _uniform(rng, 68, 84), _uniform(rng, 24, 29)
    blade_len, blade_w = _uniform(rng, 100, 122), _uniform(rng, 28, 36)
    top = -handle_w / 2.0 - _uniform(rng, 0, 3)          # the spine runs on from the handle
    t = np.linspace(0.0, 1.0, 24)
    edge_y = top + blade_w - (blade_w - 12.0) * np.clip((t - 0.45) / 0.55, 0, 1) ** 1.5
    spine_y = top + 4.0 * np.clip((t - 0.8) / 0.2, 0, 1) ** 2   # an 8-unit wide point
    xs = -2.0 + t * (blade_len + 2.0)
    blade = np.concatenate([np.stack([xs, spine_y], 1), np.stack([xs, edge_y], 1)[::-1]])
    handle = bar(-handle_len, 0.0, handle_w, round0=_uniform(rng, 0.3, 1.0))
    rivets = [Detail(ellipse(-handle_len * f, 0.0, 2.8, 2.8, 12), 1.45)
              for f in (0.25, 0.5, 0.75)[:int(rng.integers(2, 4))]]
    return [PartShape("blade", [blade], ("metal",), _uniform(rng, 4, 7), 0.0),
            PartShape("handle", [handle], ("wood", "plastic", "dark"), _uniform(rng, 16, 24),
                      0.6, rivets)]


def mug(rng: np.random.Generator) -> list[PartShape]:
    radius = _uniform(rng, 40, 50)
    lug_len, lug_w = _uniform(rng, 30, 40), _uniform(rng, 26, 32)
    handle = bar(radius - 10.0, radius + lug_len, lug_w, round1=1.0)
    inside = Detail(ellipse(0.0, 0.0, radius - _uniform(rng, 6, 9), radius - 7.5), 0.72,
                    height_mm=_uniform(rng, 8, 15))
    return [PartShape("handle", [handle], ("ceramic", "plastic"), _uniform(rng, 55, 80), 0.4),
            PartShape("body", [ellipse(0.0, 0.0, radius, radius)], ("ceramic",),
                      _uniform(rng, 85, 105), 0.0, [inside])]


def kettle(rng: np.random.Generator) -> list[PartShape]:
    radius = _uniform(rng, 46, 55)
    handle = bar(-radius - _uniform(rng, 32, 42), -radius + 8.0, _uniform(rng, 28, 34),
                 round0=1.0)
    spout = bar(radius - 10.0, radius + _uniform(rng, 36, 46), _uniform(rng, 32, 38),
                _uniform(rng, 22, 25), round1=1.0)
    lid = Detail(ellipse(0.0, 0.0, radius * 0.55, radius * 0.55), 1.15)
    knob = Detail(ellipse(0.0, 0.0, 7.0, 7.0, 16), 0.5)
    body = ellipse(0.0, 0.0, radius, radius * _uniform(rng, 0.92, 1.0))
    return [PartShape("handle", [handle], ("dark", "plastic", "wood"), _uniform(rng, 120, 170),
                      0.5),
            PartShape("spout", [spout], ("metal", "plastic", "ceramic"), _uniform(rng, 90, 130),
                      0.5),
            PartShape("body", [body], ("metal", "plastic", "ceramic"), _uniform(rng, 140, 190),
                      0.25, [lid, knob])]


def screwdriver(rng: np.random.Generator) -> list[PartShape]:
    handle_len, handle_w = _uniform(rng, 72, 88), _uniform(rng, 30, 36)
    shaft_len, shaft_w = _uniform(rng, 85, 105), _uniform(rng, 22, 24)
    shaft = bar(-4.0, shaft_len, shaft_w, round1=0.1)
    handle = bar(-handle_len, 0.0, handle_w, round0=_uniform(rng, 0.6, 1.0), round1=0.3)
    grooves = [Detail(bar(-handle_len * 0.8, -handle_len * 0.2, 3.0) + (0.0, y), 0.7)
               for y in (-handle_w * 0.25, 0.0, handle_w * 0.25)]
    return [PartShape("shaft", [shaft], ("metal",), _uniform(rng, 10, 16), 0.4),
            PartShape("handle", [handle], ("plastic",), _uniform(rng, 28, 36), 0.5, grooves)]


def spoon(rng: np.random.Generator) -> list[PartShape]:
    handle_len = _uniform(rng, 98, 116)
    bowl_rx, bowl_ry = _uniform(rng, 32, 40), _uniform(rng, 24, 29)
    handle = bar(-handle_len, 0.0, _uniform(rng, 26, 30), _uniform(rng, 22, 24), round0=1.0)
    bowl = ellipse(bowl_rx - 6.0, 0.0, bowl_rx, bowl_ry)
    return [PartShape("handle", [handle], ("plastic", "wood", "dark"), _uniform(rng, 5, 10), 0.3),
            PartShape("bowl", [bowl], ("metal",), _uniform(rng, 12, 20), 0.3)]


OBJECT_BUILDERS: dict[str, Callable[[np.random.Generator], list[PartShape]]] = {
    "knife": knife, "mug": mug, "kettle": kettle, "screwdriver": screwdriver, "spoon": spoon,
}
OBJECT_NAMES = tuple(OBJECT_BUILDERS)


def build_object(name: str, rng: np.random.Generator) -> list[PartShape]:
    """The parts of object ``name``, centred on its bounding box."""
    parts = OBJECT_BUILDERS[name](rng)
    points = np.concatenate([p for part in parts for p in part.polygons])
    centre = (points.min(axis=0) + points.max(axis=0)) / 2.0
    return [PartShape(part.name, [p - centre for p in part.polygons], part.materials,
                      part.height_mm, part.roundness,
                      [Detail(d.polygon - centre, d.shade, d.height_mm) for d in part.details])
            for part in parts]
