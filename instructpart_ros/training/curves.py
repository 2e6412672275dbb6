"""``training_curves.png``: the losses, the learning rate and validation gIoU over steps."""
from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LOSS_TERMS = ("total", "ce", "bce", "dice")


def plot_training_curves(log: list[dict], validations: list[dict], path: pathlib.Path, title: str) -> pathlib.Path:
    """Three panels from the step log (``step``, ``loss/*``, ``lr``) and the validation records."""
    figure, (losses, rate, quality) = plt.subplots(1, 3, figsize=(15, 4.2))
    steps = [entry["step"] for entry in log]
    for term in LOSS_TERMS:
        values = [entry[f"loss/{term}"] for entry in log]
        losses.plot(steps, values, label=term, linewidth=1.6 if term == "total" else 1.0)
    losses.set_yscale("log")
    losses.set(title="training loss (per-sample mean)", xlabel="optimiser step")
    losses.legend()
    rate.plot(steps, [entry["lr"] for entry in log], color="tab:purple")
    rate.set(title="learning rate", xlabel="optimiser step")
    if validations:
        val_steps = [v["step"] for v in validations]
        for key, style in (("giou", "o-"), ("ciou", "s--"), ("p50", "^:")):
            quality.plot(val_steps, [v[key] for v in validations], style, label=key)
        quality.legend()
    else:
        quality.text(0.5, 0.5, "no validation split", ha="center", va="center", transform=quality.transAxes)
    quality.set(title="validation (teacher-forced, x100)", xlabel="optimiser step", ylim=(0, 100))
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
