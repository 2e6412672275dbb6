"""Write metrics as ``metrics.json`` (for programs) and ``metrics.md`` (for people)."""
from __future__ import annotations

import json
import pathlib

from .dataset import INSTRUCTION_DESCRIPTIONS

_SECTION_TITLES = {
    "per_object": ("Per object class", "Object"),
    "per_part": ("Per part class", "Part"),
    "per_object_part": ("Per object-part pair", "Object/part"),
    "per_affordance": ("Per affordance", "Affordance"),
    "per_action": ("Per action", "Action"),
}
SCORE_HEADER = "| N | gIoU | cIoU | P@50 | P@50:95 |"
SCORE_RULE = "|---:|---:|---:|---:|---:|"
MAX_LISTED_MISSING = 50


def score_cells(summary: dict) -> str:
    """``| N | gIoU | cIoU | P@50 | P@50:95 |`` cells of a summary."""
    return (f"| {summary['n']} | {summary['giou']:.2f} | {summary['ciou']:.2f} "
            f"| {summary['p50']:.2f} | {summary['p50_95']:.2f} |")


def markdown_cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|")


def metrics_markdown(metrics: dict) -> str:
    """The report: the overall row as in the paper's tables, then one table per breakdown."""
    run = metrics.get("run", {})
    instruction = run.get("instruction", "?")
    lines = [
        f"# InstructPart evaluation: {run.get('split', '?')} split, "
        f"{metrics['overall']['n']} samples",
        "",
        f"Instruction `{instruction}` ({INSTRUCTION_DESCRIPTIONS.get(instruction, 'unknown')}); "
        f"predictions from `{run.get('predictions', '?')}`. Scores ×100; IoU of a sample whose "
        "prediction and ground truth are both empty is 100.",
        "",
        *([f"**WARNING: {run['warning']}**", ""] if run.get("warning") else []),
        "| Method | Instruction " + SCORE_HEADER,
        "|---|---" + SCORE_RULE,
        f"| {markdown_cell(run.get('method', '?'))} | {instruction} " + score_cells(metrics["overall"]),
    ]
    for section, (title, column) in _SECTION_TITLES.items():
        lines += ["", f"## {title}", "", f"| {column} " + SCORE_HEADER, "|---" + SCORE_RULE]
        lines += [f"| {markdown_cell(name)} " + score_cells(summary)
                  for name, summary in metrics[section].items()]
    lines += ["", "## Part selection (table-top tasks)", ""]
    part_selection = metrics.get("part_selection")
    if part_selection is None:
        lines.append("Not evaluated in this run.")
    else:
        lines += ["| Measure | Value |", "|---|---:|"]
        lines += [f"| {markdown_cell(key)} | {markdown_cell(value)} |" for key, value in part_selection.items()]
    missing = metrics.get("missing_predictions", [])
    if missing:
        lines += ["", f"## Missing predictions ({len(missing)}, scored as empty)", ""]
        lines += [f"- {sample_id}" for sample_id in missing[:MAX_LISTED_MISSING]]
        if len(missing) > MAX_LISTED_MISSING:
            lines.append(f"- ... and {len(missing) - MAX_LISTED_MISSING} more "
                         "(all listed in metrics.json)")
    return "\n".join(lines) + "\n"


def write_metrics(out_dir: str | pathlib.Path, metrics: dict) -> tuple[pathlib.Path, pathlib.Path]:
    """Write ``metrics.json`` and ``metrics.md`` into ``out_dir``; return both paths."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, markdown_path = out_dir / "metrics.json", out_dir / "metrics.md"
    json_path.write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    markdown_path.write_text(metrics_markdown(metrics))
    return json_path, markdown_path
