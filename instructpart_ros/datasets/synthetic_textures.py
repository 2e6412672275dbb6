"""Table-top backgrounds and part colours for the synthetic scenes.

Part colours come from a material (metal, plastic, wood, dark rubber, ceramic) and must
differ clearly, in CIELAB, from each other; a background is one of a few textures (wood
grain, blotchy noise, stripes, checker, cloth weave, speckled laminate) whose colours
are drawn clearly apart from the parts' colours.
"""
from __future__ import annotations

import colorsys
import functools
import itertools
from typing import Callable

import cv2
import numpy as np

# CIELAB distances (Delta E 1976) a drawn colour must keep.
PART_TO_PART_DELTA_E = 32.0
PART_TO_BACKGROUND_DELTA_E = 28.0


def hsv(h: float, s: float, v: float) -> np.ndarray:
    """An RGB colour in [0, 255] from hue (degrees), saturation and value in [0, 1]."""
    return np.array(colorsys.hsv_to_rgb((h % 360.0) / 360.0, s, v), np.float32) * 255.0


def to_lab(colours) -> np.ndarray:
    """CIELAB (L in 0-100) of RGB colours in [0, 255], shape (N, 3)."""
    rgb = np.asarray(colours, np.float32).reshape(1, -1, 3) / 255.0
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).reshape(-1, 3)


def far_apart(colours, others, min_delta_e: float) -> bool:
    """Whether each of ``colours`` is at least ``min_delta_e`` from each of ``others``."""
    if len(colours) == 0 or len(others) == 0:
        return True
    a, b = to_lab(colours), to_lab(others)
    return bool(np.linalg.norm(a[:, None] - b[None], axis=2).min() >= min_delta_e)


# --- materials ----------------------------------------------------------------------------

def material_colour(material: str, rng: np.random.Generator) -> np.ndarray:
    """A base colour for ``material``."""
    u = rng.uniform
    if material == "metal":
        grey = np.full(3, u(125, 215)) + rng.normal(0, 5, 3)   # a slight tint
        return np.clip(grey, 0, 255).astype(np.float32)
    if material == "plastic":
        return hsv(u(0, 360), u(0.55, 0.95), u(0.45, 0.95))
    if material == "wood":
        return hsv(u(18, 38), u(0.45, 0.8), u(0.3, 0.7))
    if material == "dark":
        return hsv(u(0, 360), u(0.0, 0.3), u(0.08, 0.25))
    if material == "ceramic":
        return hsv(u(0, 360), u(0.0, 0.75), u(0.55, 0.97))
    raise ValueError(f"unknown material {material!r}")


# --- backgrounds ---------------------------------------------------------------------------

def smooth_noise(rng: np.random.Generator, height: int, width: int, cell: float) -> np.ndarray:
    """Noise in [0, 1] that varies over about ``cell`` pixels (bicubic upsampling of a grid)."""
    grid = rng.random((int(height / cell) + 3, int(width / cell) + 3)).astype(np.float32)
    big = cv2.resize(grid, (int(grid.shape[1] * cell), int(grid.shape[0] * cell)),
                     interpolation=cv2.INTER_CUBIC)
    return np.clip(big[:height, :width], 0.0, 1.0)


@functools.lru_cache(maxsize=4)
def pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-only float32 row and column coordinates of every pixel (cached per size)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ys.flags.writeable = xs.flags.writeable = False
    return ys, xs


def _axis(height: int, width: int, angle: float) -> np.ndarray:
    ys, xs = pixel_grid(height, width)
    return xs * np.float32(np.cos(angle)) + ys * np.float32(np.sin(angle))


def _two_colours(rng: np.random.Generator) -> list[np.ndarray]:
    """A colour and a second one of the same family, clearly but not wildly different."""
    h, s, v = rng.uniform(0, 360), rng.uniform(0.05, 0.6), rng.uniform(0.35, 0.9)
    dv = rng.uniform(0.12, 0.3) * (1 if v < 0.6 else -1)
    return [hsv(h, s, v), hsv(h + rng.uniform(-25, 25), s, v + dv)]


def _blend(colours: list[np.ndarray], t: np.ndarray) -> np.ndarray:
    a, b = colours
    return a * (1.0 - t[..., None]) + b * t[..., None]


# Each texture: (palette(rng) -> its colours, render(rng, height, width, colours) -> image).

def wood(rng, height, width, colours):
    across = _axis(height, width, rng.uniform(0, np.pi))
    warped = across + 14.0 * smooth_noise(rng, height, width, rng.uniform(40, 90))
    grain = np.sin(2.0 * np.pi * warped / rng.uniform(6, 14))
    seams = (across % rng.uniform(50, 90) < 1.5).astype(np.float32)
    shade = 1.0 + 0.1 * grain - 0.25 * seams + 0.08 * (smooth_noise(rng, height, width, 30) - 0.5)
    return colours[0] * shade[..., None]


def blotches(rng, height, width, colours):
    return _blend(colours, smooth_noise(rng, height, width, rng.uniform(20, 60)))


def stripes(rng, height, width, colours):
    wave = np.sin(2.0 * np.pi * _axis(height, width, rng.uniform(0, np.pi)) / rng.uniform(16, 48))
    return _blend(colours, np.clip(wave * 3.0, -1, 1) * 0.5 + 0.5)


def checker(rng, height, width, colours):
    cell, angle = rng.uniform(20, 48), rng.uniform(0, np.pi / 2)
    u, v = _axis(height, width, angle), _axis(height, width, angle + np.pi / 2)
    t = ((np.floor(u / cell) + np.floor(v / cell)) % 2).astype(np.float32)
    return _blend(colours, cv2.GaussianBlur(t, (3, 3), 0))


def cloth(rng, height, width, colours):
    ys, xs = pixel_grid(height, width)
    period = rng.uniform(3, 5)
    weave = np.sign(np.sin(np.pi * xs / period)) * np.sign(np.sin(np.pi * ys / period))
    folds = smooth_noise(rng, height, width, rng.uniform(50, 110)) - 0.5
    return colours[0] * (1.0 + 0.06 * weave + 0.25 * folds)[..., None]


def laminate(rng, height, width, colours):
    speckle = (rng.random((height, width)) < 0.04).astype(np.float32)
    mottle = smooth_noise(rng, height, width, 25) - 0.5
    return colours[0] * (1.0 - 0.25 * speckle + 0.05 * mottle)[..., None]


BACKGROUNDS: dict[str, tuple[Callable, Callable]] = {
    "wood": (lambda rng: [hsv(rng.uniform(15, 42), rng.uniform(0.3, 0.7),
                              rng.uniform(0.45, 0.85))], wood),
    "blotches": (_two_colours, blotches),
    "stripes": (_two_colours, stripes),
    "checker": (_two_colours, checker),
    "cloth": (lambda rng: [hsv(rng.uniform(0, 360), rng.uniform(0.15, 0.7),
                               rng.uniform(0.3, 0.85))], cloth),
    "laminate": (lambda rng: [hsv(rng.uniform(0, 360), rng.uniform(0.0, 0.35),
                                  rng.uniform(0.35, 0.92))], laminate),
}
TEXTURE_SHADES = (0.88, 1.0, 1.12)   # how far a texture's shading moves its colours


def background(rng: np.random.Generator, height: int, width: int, avoid: list,
               tries: int = 30) -> tuple[str, np.ndarray] | None:
    """A random background whose colours, as shaded by its texture, all keep
    :data:`PART_TO_BACKGROUND_DELTA_E` from the colours in ``avoid``: its kind and image
    (float32 RGB, 0-255); None if ``tries`` palettes all came too close."""
    kind = list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))]
    palette, render = BACKGROUNDS[kind]
    for _ in range(tries):
        colours = palette(rng)
        shaded = [np.clip(c * f, 0, 255) for c in colours for f in TEXTURE_SHADES]
        if far_apart(shaded, avoid, PART_TO_BACKGROUND_DELTA_E):
            image = render(rng, height, width, colours)
            return kind, np.clip(image, 0, 255).astype(np.float32)
    return None


def part_colours(materials: list[str], shades: list[tuple[float, ...]], rng: np.random.Generator,
                 tries: int = 100) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One base colour per part, the parts far from each other under each of their
    ``shades`` (brightness factors); also every shaded colour drawn (for the background to
    avoid). After ``tries`` failed draws, saturated plastic colours of spread-out hues."""
    for _ in range(tries):
        colours = [material_colour(m, rng) for m in materials]
        looks = [[np.clip(c * f, 0, 255) for f in fs] for c, fs in zip(colours, shades)]
        if all(far_apart(looks[i], looks[j], PART_TO_PART_DELTA_E)
               for i, j in itertools.combinations(range(len(looks)), 2)):
            return colours, [look for part in looks for look in part]
    hue = rng.uniform(0, 360)
    colours = [hsv(hue + 360.0 * k / len(materials), 0.9, 0.8) for k in range(len(materials))]
    return colours, colours
