"""index.html of an experiment's work folder: the results table, the questions' answers, the loss curves and a link
to every evaluation's report.html, for a person who would rather look than read results.md."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

from arccommon.files import atomic_write_text
from experiments.plan import SPLITS, Plan
from experiments.results import answers, table_rows, ttt_lines

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;background:#fafafa;max-width:1400px}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#eee}ul{line-height:1.5}img{max-width:720px;border:1px solid #ccc;background:#fff}
.muted{color:#666}
"""


def _report(work: Path, run: str, split: str) -> Path | None:
    path = work / "runs" / run / f"eval-{split}" / "report.html"
    return path if path.exists() else None


def _cell(text: str, link: Path | None, page: Path) -> str:
    if link is None or not text:
        return f"<td>{html.escape(text)}</td>"
    return f'<td><a href="{html.escape(os.path.relpath(link, page.parent))}">{html.escape(text)}</a></td>'


def write_index(plan: Plan, results: dict[str, dict[str, Any]], work: Path, png: Path, command: str) -> Path:
    """Write ``work``/index.html and return its path; each score links to the report it comes from."""
    page = work / "index.html"
    head, rows = table_rows(plan, results)
    first_score = head.index(f"score {SPLITS[0]}")
    body = ["<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for run, row in zip(plan.runs, rows):
        cells = [_cell(text, _report(work, run.name, SPLITS[i - first_score]) if i >= first_score else None, page)
                 for i, text in enumerate(row)]
        body.append("<tr>" + "".join(cells) + "</tr>")
    reports = []
    for run in plan.runs:
        for split, summary in results[run.name]["eval"].items():
            report = _report(work, run.name, split)
            if report is not None:
                score = summary.get("score")
                shown = f"{score:.3f} ({summary.get('tasks_solved')}/{summary.get('n_tasks')})" \
                    if score is not None else "not scored"
                reports.append(f'<li><a href="{html.escape(os.path.relpath(report, page.parent))}">'
                               f"{html.escape(run.name)} on {html.escape(split)}</a>: {shown}</li>")
    said = [line.removeprefix("- ") for line in [*answers(results), *ttt_lines(plan, results)]
            if line.startswith("- ")]
    curve = (f'<img alt="training loss per step" src="data:image/png;base64,'
             f'{base64.b64encode(png.read_bytes()).decode()}">' if png.exists() else
             '<p class="muted">no training yet</p>')
    text = "\n".join([
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Experiments: scale {html.escape(plan.scale.name)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Experiments: scale <code>{html.escape(plan.scale.name)}</code></h1>",
        f"<p class='muted'>Made by <code>{html.escape(command)}</code>. Each score links to its report.</p>",
        "<h2>Results</h2>", f"<table id='results'>{''.join(body)}</table>",
        "<h2>The questions</h2>", "<ul id='answers'>" + "".join(f"<li>{html.escape(s)}</li>" for s in said) + "</ul>",
        "<h2>Training loss</h2>", curve,
        "<h2>Reports</h2>", "<ul id='reports'>" + "".join(reports) + "</ul>",
        "</body></html>", ""])
    atomic_write_text(page, text)
    return page
