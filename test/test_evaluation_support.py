"""Helpers shared by the evaluation and CLI tests (no tests here).

They read and write with PIL and SciPy only, so expected numbers never come from the
OpenCV code under test.
"""
import json
import pathlib

import numpy as np
from PIL import Image
from scipy import ndimage

# Both kitchen_1 entries share one photo; the rest are single samples.
SMALL_IDS = ("kitchen_1-faucet-handle", "kitchen_1-microwave-handle",
             "1009786005_d4a02fd811_o-faucet-handle", "103415298_29c32b89ba_o-lamp-lampshade",
             "11424197026_cbeb3c5a7a_o-chair-seat", "11738676443_7ded5c160f_o-trash_can-lid")


def read_truth(path) -> np.ndarray:
    return np.array(Image.open(path)) > 0


def real_entries(instructpart_root: pathlib.Path) -> list[dict]:
    return json.loads((instructpart_root / "test" / "data_test.json").read_text())


def entry_id(entry: dict, part: dict) -> str:
    stem = entry["image_path"].rsplit(".", 1)[0]
    return f"{stem}-{part['object']}-{part['part']}".replace(" ", "_")


def write_small_dataset(instructpart_root: pathlib.Path, root: pathlib.Path,
                        ids=SMALL_IDS, max_side: int = 96) -> pathlib.Path:
    """A copy of some real test samples, shrunk to ``max_side``, in the released layout."""
    test = root / "test"
    (test / "images").mkdir(parents=True)
    (test / "masks").mkdir()
    kept = []
    for entry in real_entries(instructpart_root):
        parts = [part for part in entry["part_list"] if entry_id(entry, part) in ids]
        if not parts:
            continue
        kept.append({"image_path": entry["image_path"], "part_list": parts})
        for part in parts:
            sid = entry_id(entry, part)
            image = Image.open(instructpart_root / "test" / "images" / f"{sid}.jpg")
            scale = max_side / max(image.size)
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image.convert("RGB").resize(size).save(test / "images" / f"{sid}.jpg")
            Image.open(instructpart_root / "test" / "masks" / f"{sid}.png").resize(
                size, Image.Resampling.NEAREST).save(test / "masks" / f"{sid}.png")
    (test / "data_test.json").write_text(json.dumps(kept, indent=1))
    return root


def shifted(mask: np.ndarray, columns: int) -> np.ndarray:
    """``mask`` moved right by ``columns`` pixels, zeros coming in from the left."""
    out = np.zeros_like(mask)
    out[:, columns:] = mask[:, :-columns]
    return out


VARIANTS = ("exact", "eroded", "shifted", "empty")


def derived_prediction(truth: np.ndarray, variant: str) -> np.ndarray:
    if variant == "exact":
        return truth
    if variant == "eroded":
        return ndimage.binary_erosion(truth, iterations=6)
    if variant == "shifted":
        return shifted(truth, 25)
    if variant == "empty":
        return np.zeros_like(truth)
    raise AssertionError(variant)


def write_derived_predictions(samples, out_dir: pathlib.Path) -> dict:
    """Write predictions cycling through :data:`VARIANTS` (1-bit PNGs, as PIL writes bool).

    Returns the expected metrics, computed here with plain NumPy:
    ``{"giou", "ciou", "p50", "per_sample": {id: iou×100}, "variant": {id: name}}``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    intersections, unions, ious, variant_of = [], [], {}, {}
    for index, sample in enumerate(samples):
        truth = read_truth(sample.mask_path)
        variant = VARIANTS[index % len(VARIANTS)]
        prediction = derived_prediction(truth, variant)
        Image.fromarray(prediction).save(out_dir / f"{sample.id}.png")
        intersection = int((prediction & truth).sum())
        union = int((prediction | truth).sum())
        intersections.append(intersection)
        unions.append(union)
        ious[sample.id] = 100.0 * (intersection / union if union else 1.0)
        variant_of[sample.id] = variant
    values = np.array(list(ious.values()))
    return {"giou": float(values.mean()), "ciou": 100.0 * sum(intersections) / sum(unions),
            "p50": 100.0 * float(np.mean(values > 50.0)), "per_sample": ious,
            "variant": variant_of}
