"""report.html: every task's train pairs, test input, expected output and attempts, drawn in the ARC palette."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from arccommon.files import atomic_write_text
from arcprep.tasks import Task, grid_problem
from evalkit.run import finished_tasks

PALETTE = ["#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00", "#AAAAAA", "#F012BE", "#FF851B", "#7FDBFF",
           "#870C25"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;background:#fafafa}
table.summary td,table.selection td,table.selection th{padding:2px 10px}
.headline{font-size:1.25em;margin:.3em 0}.headline b{font-size:1.4em}
details{margin:.6em 0}
.task{border:1px solid #ccc;border-radius:6px;margin:10px 0;padding:8px;background:#fff}
.task.solved{border-left:8px solid #2ECC40}.task.unsolved{border-left:8px solid #FF4136}
.task.unscored{border-left:8px solid #AAAAAA}
.row{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
figure{margin:0;text-align:center;font-size:12px}
.grid{display:inline-grid;gap:1px;background:#555;border:1px solid #555}
.grid div{width:var(--c);height:var(--c)}
.missing{width:40px;height:40px;border:1px dashed #999;display:flex;align-items:center;justify-content:center}
button{margin-right:6px}
"""

_SCRIPT = """
function sortTasks(key){const box=document.getElementById('tasks');
const items=[...box.children];items.sort((a,b)=>key==='id'?a.dataset.id.localeCompare(b.dataset.id)
:(parseFloat(b.dataset.score)-parseFloat(a.dataset.score))||a.dataset.id.localeCompare(b.dataset.id));
items.forEach(i=>box.appendChild(i));}
function filterTasks(which){document.querySelectorAll('.task').forEach(t=>{t.style.display=
which==='all'||t.classList.contains(which)?'':'none';});}
"""


def grid_html(grid: Any, label: str) -> str:
    """A grid as a CSS grid of coloured cells (or a dashed box when there is no valid grid)."""
    if grid_problem(grid) is not None:
        return f'<figure><div class="missing">none</div><figcaption>{html.escape(label)}</figcaption></figure>'
    h, w = len(grid), len(grid[0])
    cell = max(4, min(16, 240 // max(h, w)))
    cells = "".join(f'<div style="background:{PALETTE[c]}"></div>' for row in grid for c in row)
    return (f'<figure><div class="grid" style="--c:{cell}px;grid-template-columns:repeat({w},{cell}px)">{cells}'
            f'</div><figcaption>{html.escape(label)} ({h}x{w})</figcaption></figure>')


def task_html(task: Task, rec: dict[str, Any]) -> str:
    scored = rec.get("score_record")
    score = scored["score"] if scored else None
    state = "unscored" if score is None else ("solved" if score == 1.0 else "unsolved")
    parts = [f'<div class="task {state}" data-id="{html.escape(task.id)}" data-score="{score if score is not None else -1}">',
             f"<b>{html.escape(task.id)}</b> — {state}" + (f", score {score:.2f}" if score is not None else ""),
             '<div class="row">']
    for i, pair in enumerate(task.train):
        parts += [grid_html(pair.input, f"train {i + 1} in"), grid_html(pair.output, f"train {i + 1} out")]
    parts.append("</div>")
    for t, pair in enumerate(task.test):
        parts.append('<div class="row">')
        parts.append(grid_html(pair.input, f"test {t + 1} input"))
        if pair.output is not None:
            parts.append(grid_html(pair.output, "expected"))
        attempts = rec["attempts"][t] if t < len(rec["attempts"]) else []
        generated = [o["grid"] for o in rec["options"][t]] if "options" in rec else attempts
        for k in range(max(1, len(attempts))):
            grid = attempts[k] if k < len(attempts) else None
            mark = "" if pair.output is None or grid is None else (" ✓" if grid == pair.output else " ✗")
            fallback = " (fallback)" if grid is not None and grid not in generated else ""
            parts.append(grid_html(grid, f"attempt {k + 1}{fallback}{mark}"))
        parts.append("</div>")
    parts.append("</div>")
    return "".join(parts)


def write_report(out: Path, tasks: list[Task]) -> Path:
    """Write ``out``/report.html from ``out``'s per-task results and summary.json."""
    records = finished_tasks(out)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    rest = {k: v for k, v in summary.items() if k != "selection"}
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_fmt(v))}</td></tr>" for k, v in rest.items())
    body = "".join(task_html(t, records[t.id]) for t in tasks if t.id in records)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>ARC evaluation: {html.escape(str(summary.get('split')))}"
            f"</title><style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>"
            f"<h1>ARC evaluation</h1>{headline_html(summary)}{selection_html(summary)}"
            f"<details><summary>every figure of summary.json</summary><table class='summary'>{rows}</table>"
            "</details><p>"
            "<button onclick=\"sortTasks('score')\">sort by score</button>"
            "<button onclick=\"sortTasks('id')\">sort by id</button>"
            "<button onclick=\"filterTasks('all')\">all</button>"
            "<button onclick=\"filterTasks('solved')\">solved</button>"
            "<button onclick=\"filterTasks('unsolved')\">unsolved</button></p>"
            f"<div id='tasks'>{body}</div></body></html>")
    path = out / "report.html"
    atomic_write_text(path, page)
    return path


def shown_path(value: Any) -> str:
    """A path relative to the working directory (the repository) when it lies inside it, else as given."""
    if not value:
        return "none"
    path = Path(str(value))
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(value)


def headline_html(summary: dict[str, Any]) -> str:
    """The answer first: score, tasks and outputs solved; then what was evaluated and how."""
    adapter = summary.get("adapter_per_task") or summary.get("adapter")
    per_task = " (one adapter per task)" if summary.get("adapter_per_task") else ""
    facts = [("model", shown_path(summary.get("model"))), ("adapter", shown_path(adapter) + per_task),
             ("split", summary.get("split")), ("views per test input", summary.get("augmentations")),
             ("selection", summary.get("select"))]
    if summary.get("score") is None:  # a hidden test set: predictions only
        answer = f"not scored: the test outputs are hidden ({summary.get('n_tasks')} tasks predicted)"
    else:
        answer = (f"score <b>{summary['score']:.3f}</b> &middot; tasks solved <b>{summary.get('tasks_solved')}/"
                  f"{summary.get('n_tasks')}</b> &middot; outputs solved {summary.get('output_accuracy') or 0.0:.1%} "
                  f"of {summary.get('n_outputs')}")
    return (f"<p class='headline'>{answer}</p><p>"
            + " &middot; ".join(f"{html.escape(k)}: <code>{html.escape(str(v))}</code>" for k, v in facts) + "</p>")


def selection_html(summary: dict[str, Any]) -> str:
    """The same candidates chosen by each selection: oracle (any candidate right), pass@1, pass@2, score."""
    methods = summary.get("selection") or {}
    if not methods or summary.get("score") is None:
        return ""
    head = "<tr><th>selection</th><th>score</th><th>pass@1</th><th>pass@2</th><th>oracle (any candidate)</th></tr>"
    rows = "".join(f"<tr><td>{html.escape(name)}</td><td>{m.get('score', 0.0):.3f}</td>" + "".join(
        f"<td>{m.get(k, 0.0):.1%}</td>" for k in ("pass_at_1", "pass_at_2", "oracle_pass_at_n")) + "</tr>"
        for name, m in methods.items())
    return f"<table class='selection'>{head}{rows}</table>"


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
