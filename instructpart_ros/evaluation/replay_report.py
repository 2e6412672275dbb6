"""The replay evaluation's report: ``metrics.json``, ``metrics.md`` (the paper's table-2 layout
first) and ``qualitative.png`` (best and worst cases: mask over image, target part outlined)."""
from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence

from .figures import QualitativeCase, best_and_worst, case_title, plot_cases
from .metrics import MaskCounts, summarize
from .replay_items import INSTRUCTION_GROUPS
from .replay_scoring import (latency_summary, selection_summary, selection_table, status_counts,
                             variant_segmentation)
from .report import SCORE_HEADER, SCORE_RULE, markdown_cell, score_cells
from .scoring import prediction_path

REPORT_FILES = ("metrics.json", "metrics.md", "qualitative.png")
PREDICTIONS_DIR = "predictions"
BREAKDOWNS = ("per_object", "per_part", "per_object_part")


@dataclass(frozen=True)
class QualitativeEntry:
    """A scored sample that may appear in ``qualitative.png``."""

    key: str
    sample: object  # InstructPartSample (image, target mask)
    predictions_dir: pathlib.Path
    instruction: str


def build_replay_metrics(options, by_variant: Mapping[str, Sequence], records: Mapping[str, dict],
                         extra: dict) -> dict:
    """The metrics structure (see docs/replay_evaluation.md): one section per variant, the
    paper's TRPS/ORPS groups, part selection, statuses, latency, failures."""
    variants, per_sample, counts_by_variant = {}, {}, {}
    for variant, items in by_variant.items():
        variant_records = [records[item.key] for item in items if item.key in records]
        scorable = [item.sample for item in items if item.sample is not None
                    and records.get(item.key, {}).get("outcome") in ("answered", "failed")]
        scores = variant_segmentation(scorable, options.out / PREDICTIONS_DIR / variant)
        section = dict(scores.metrics["overall"]) if scores else {"n": 0}
        section.update(part_selection=selection_summary(variant_records), statuses=status_counts(variant_records),
                       latency_ms=latency_summary(variant_records))
        if scores:
            section.update({name: scores.metrics[name] for name in BREAKDOWNS})
            section["missing_predictions"] = scores.metrics["missing_predictions"]
            per_sample[variant] = scores.metrics["per_sample"]
            counts_by_variant[variant] = scores.counts
        variants[variant] = section
    all_records = [records[item.key] for items in by_variant.values() for item in items if item.key in records]
    groups = {}
    for group, members in INSTRUCTION_GROUPS.items():
        present = [variant for variant in members if variant in counts_by_variant]
        if present:
            pooled: List[MaskCounts] = [count for variant in present for count in counts_by_variant[variant]]
            group_records = [r for r in all_records if r.get("variant") in present]
            groups[group] = {**summarize(pooled), "variants": present,
                             "part_selection": selection_summary(group_records)}
    extra = dict(extra)
    bad_entries = [{"key": r["key"], "reason": r["reason"]} for r in all_records if r.get("outcome") == "bad_entry"]
    bad_entries += extra.pop("bad_entries_bags", [])
    return {
        "source": options.run.get("source"), "run": options.run, "model": options.model,
        "mode": options.model.get("mode"), "method": options.method or options.model.get("kind") or "model",
        "variants": variants, "groups": groups,
        "part_selection": {**(selection_summary(all_records) or {"n": 0}),
                           "per_variant": selection_table(all_records, "variant"),
                           "per_object": selection_table(all_records, "object"),
                           "per_part": selection_table(all_records, "part")},
        "statuses": status_counts(all_records), "latency_ms": latency_summary(all_records),
        "failed": [{"key": r["key"], "reason": r["reason"], "attempts": r.get("attempts", 0)}
                   for r in all_records if r.get("outcome") == "failed"],
        "bad_entries": bad_entries, "warnings": list(dict.fromkeys(options.warnings)),
        **extra, "per_sample": per_sample,
    }


def write_replay_report(options, by_variant, records, entries: Sequence[QualitativeEntry], extra: dict) -> dict:
    """Build the metrics, write :data:`REPORT_FILES` into ``options.out``; return the metrics."""
    metrics = build_replay_metrics(options, by_variant, records, extra)
    out = options.out
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False, default=str) + "\n")
    (out / "metrics.md").write_text(replay_markdown(metrics))
    _plot_qualitative(entries, metrics, records, out / "qualitative.png", options.qualitative)
    return metrics


def _plot_qualitative(entries, metrics: dict, records: Mapping[str, dict], path: pathlib.Path, count: int) -> None:
    ious: Dict[str, float] = {}
    for entry in entries:
        variant, sample_id = entry.key.split("/", 1)
        row = metrics["per_sample"].get(variant, {}).get(sample_id)
        if row is not None and entry.sample is not None and pathlib.Path(entry.sample.image_path).is_file():
            ious[entry.key] = row["iou"]
    path.unlink(missing_ok=True)
    if not ious:
        return
    by_key = {entry.key: entry for entry in entries}
    best, worst = best_and_worst(ious, count)

    def case(label: str, key: str) -> QualitativeCase:
        entry = by_key[key]
        selection = (records.get(key, {}).get("selection") or {})
        verdict = "part ok" if selection.get("correct") else "wrong part"
        title = case_title(f"{label} ({entry.key.split('/')[0]}, {verdict})", entry.sample.object_part, ious[key],
                           entry.instruction)
        return QualitativeCase(title, pathlib.Path(entry.sample.image_path),
                               prediction_path(entry.predictions_dir, entry.sample.id), entry.sample.mask_path)

    plot_cases([(label, [case(label, key) for key in keys]) for label, keys in (("best", best), ("worst", worst))],
               path)


# ---------------------------------------------------------------------------- markdown
def _percent(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.1f}"


def _selection_cells(summary: Optional[dict]) -> str:
    if not summary:
        return "| – | – |"
    return f"| {summary['accuracy']:.1f} ({summary['correct']}/{summary['n']}) | {summary['anchor_hit_rate']:.1f} |"


def _group_cells(group: Optional[dict]) -> str:
    if not group:
        return " – | – | – | – |"
    return f" {group['giou']:.2f} | {group['ciou']:.2f} | {group['p50']:.2f} | {group['p50_95']:.2f} |"


def replay_markdown(metrics: dict) -> str:
    """``metrics.md``: the table-2 row, then per-variant scores, part selection, statuses, latency, problems."""
    run, model = metrics["run"], metrics["model"]
    lines = [f"# Replay evaluation: {run.get('source', '?')} `{run.get('dataset', '?')}`", "",
             f"Through the perception node over DDS ({run.get('transport', '?')}). Model: {model.get('kind', '?')} "
             f"`{model.get('checkpoint', '?')}`, mode **{model.get('mode', '?')}**, {model.get('dtype', '?')} on "
             f"{model.get('device', '?')}. Scores ×100.", ""]
    if model.get("warning"):
        lines += [f"**WARNING: {model['warning']}**", ""]
    groups = metrics["groups"]
    if groups:
        lines += ["## Table 2 layout (TRPS = task instructions, ORPS = part named)", "",
                  "| Method | Mode | TRPS gIoU | TRPS cIoU | TRPS P@50 | TRPS P@50:95 "
                  "| ORPS gIoU | ORPS cIoU | ORPS P@50 | ORPS P@50:95 |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
                  f"| {markdown_cell(metrics['method'])} | {model.get('mode', '?')} |"
                  + _group_cells(groups.get("TRPS")) + _group_cells(groups.get("ORPS")), ""]
    lines += ["## Per instruction variant", "", "| Variant " + SCORE_HEADER + " Part selection | Anchor hit |",
              "|---" + SCORE_RULE + "---:|---:|"]
    for name, section in metrics["variants"].items():
        scores = score_cells(section) if section.get("n") else "| 0 | – | – | – | – |"
        lines.append(f"| {markdown_cell(name)} " + scores + _selection_cells(section.get("part_selection"))[1:])
    selection = metrics["part_selection"]
    lines += ["", "## Part selection", ""]
    if selection.get("n"):
        lines += [f"Correct for {selection['correct']} of {selection['n']} ({selection['accuracy']:.1f}%); "
                  f"anchor in the target part for {selection['anchor_hits']} ({selection['anchor_hit_rate']:.1f}%). "
                  "Correct = non-empty mask, at least half of it in the target part, and more of it there than "
                  "in any other annotated part.", ""]
        for table, column in (("per_object", "Object"), ("per_part", "Part"), ("per_variant", "Variant")):
            lines += [f"| {column} | N | Accuracy | Anchor hit |", "|---|---:|---:|---:|"]
            lines += [f"| {markdown_cell(name)} | {row['n']} | {row['accuracy']:.1f} | {row['anchor_hit_rate']:.1f} |"
                      for name, row in selection[table].items()] + [""]
    else:
        lines += ["No sample with ground truth was answered.", ""]
    lines += ["## Statuses", "", "| Status | Count |", "|---|---:|"]
    lines += [f"| {name} | {count} |" for name, count in metrics["statuses"].items()]
    lines += ["", "## Latency (ms)", "", "| Measure | N | p50 | p95 | mean |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {name} | {row['n']} | {row['p50']:.1f} | {row['p95']:.1f} | {row['mean']:.1f} |"
              for name, row in metrics["latency_ms"].items()]
    lines += _timing_lines(metrics.get("timing")) + _coverage_lines(metrics.get("coverage"))
    for title, key in (("Failed samples", "failed"), ("Bad entries", "bad_entries")):
        if metrics[key]:
            lines += ["", f"## {title} ({len(metrics[key])})", ""]
            lines += [f"- `{row['key']}`: {row['reason']}" if row["key"] else f"- {row['reason']}"
                      for row in metrics[key]]
    if metrics["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {warning}" for warning in metrics["warnings"]]
    return "\n".join(lines) + "\n"


def _timing_lines(timing: Optional[dict]) -> List[str]:
    if not timing:
        return []
    return ["", "## Timing", "", f"{timing['mode']} at {timing['rate']:g}× the recorded rate: {timing['frames']} "
            f"frames, {timing['answered']} answered, {timing['dropped']} dropped ({timing['drop_rate']:.1f}% of those "
            f"sent), {timing['failed']} failed, {timing['no_instruction']} before any instruction."]


def _coverage_lines(coverage: Optional[List[dict]]) -> List[str]:
    if not coverage:
        return []
    covered = sum(1 for row in coverage if row["covered_by"])
    lines = ["", f"## Table-top task coverage ({covered} of {len(coverage)} tasks have a recorded frame)", "",
             "| Scene | Task | Object | Part | Frame |", "|---|---|---|---|---|"]
    lines += [f"| {row['scene']} | {markdown_cell(row['task'])} | {row['object']} | {row['part']} | "
              f"{', '.join(row['covered_by']) or 'needs a recording'} |" for row in coverage]
    return lines
