"""The few lines ``python -m evalkit run`` ends with: the score, what was solved, and the selection table."""

from __future__ import annotations

from typing import Any


def summary_lines(summary: dict[str, Any], report: str) -> list[str]:
    """A short human summary of summary.json, the way lm-evaluation-harness ends with its table."""
    def pct(key: str) -> str:
        value = summary.get(key)
        return "" if value is None else f"{value:.0%}"

    lines = [f"score {summary['score']:.3f}: tasks solved {summary.get('tasks_solved')}/{summary['n_tasks']}, "
             f"test outputs solved {pct('output_accuracy')} of {summary['n_outputs']}, right shape "
             f"{pct('shape_accuracy')}, attempts chosen by {summary.get('select')}"]
    selection = summary.get("selection") or {}
    if selection:
        rows = [("selection", "pass@1", "pass@2")]
        rows += [(mode, f"{v['pass_at_1']:.0%}", f"{v['pass_at_2']:.0%}") for mode, v in sorted(selection.items())]
        sampled = f", dfs {summary['dfs_threshold']}" if summary.get("dfs_threshold") else ""
        rows.append((f"oracle ({summary.get('augmentations')} views{sampled})", "", pct("oracle_pass_at_n")))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines += ["  " + "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                                   enumerate(zip(row, widths))) for row in rows]
    if summary.get("wall_s") is not None:
        lines.append(f"{summary['wall_s']:.0f} s in all; {summary.get('tokens_per_s') or 0:.0f} generated tokens/s")
    lines.append(f"report: {report}")
    return lines
