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
table.summary td{padding:2px 10px}
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
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_fmt(v))}</td></tr>" for k, v in summary.items())
    body = "".join(task_html(t, records[t.id]) for t in tasks if t.id in records)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>ARC evaluation: {html.escape(str(summary.get('split')))}"
            f"</title><style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>"
            f"<h1>ARC evaluation</h1><table class='summary'>{rows}</table><p>"
            "<button onclick=\"sortTasks('score')\">sort by score</button>"
            "<button onclick=\"sortTasks('id')\">sort by id</button>"
            "<button onclick=\"filterTasks('all')\">all</button>"
            "<button onclick=\"filterTasks('solved')\">solved</button>"
            "<button onclick=\"filterTasks('unsolved')\">unsolved</button></p>"
            f"<div id='tasks'>{body}</div></body></html>")
    path = out / "report.html"
    atomic_write_text(path, page)
    return path


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
