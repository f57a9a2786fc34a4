"""An experiment's index.html in a real headless Chromium: the results table, the answers, the loss curve really
drawn, and a link to every report that leads to an existing report.html.

Skipped when Chromium is not installed, except under CI (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from arcprep.encoding import max_answer_tokens
from arcprep.sources import load_source
from evalkit.report import write_report
from evalkit.run import EvalConfig, evaluate
from experiments.index_page import write_index
from experiments.plan import load_matrix, make_plan, make_scale
from experiments.results import plot_losses
from recipes.record import PromptSettings
from tests.test_report_browser import CHROMIUM, FLAGS, HalfRight, pytestmark  # noqa: F401 - skip rule shared

PROBE = """
<script>
window.addEventListener('load', () => {
  const out = {
    headers: [...document.querySelectorAll('#results th')].map(h => h.textContent),
    rows: [...document.querySelectorAll('#results tr')].slice(1).map(r => r.cells[0].textContent),
    score_links: [...document.querySelectorAll('#results a')].map(a => a.getAttribute('href')),
    reports: [...document.querySelectorAll('#reports a')].map(a => [a.textContent, a.getAttribute('href')]),
    answers: [...document.querySelectorAll('#answers li')].map(li => li.textContent),
    image_width: (document.querySelector('img') || {}).naturalWidth || 0,
  };
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def _finished_experiment(work: Path) -> tuple[Path, list[str]]:
    """A plan of base + train on the demo scale, with real evaluations (a predictor that solves every other task)
    written where the runner writes them, and training records with loss curves: what write_index reads."""
    matrix = load_matrix()
    plan = make_plan(matrix, make_scale(matrix, "demo", {"tasks": 4}), ["base", "train"])
    results = {}
    for run in plan.runs:
        evals = {}
        for split in run.evaluate:
            tasks = [t for t in load_source(split).tasks if t.id in plan.task_ids(split)]
            out = work / "runs" / run.name / f"eval-{split}"
            cfg = EvalConfig(split, None, "fake", max_new_tokens=max_answer_tokens(),
                             system_prompt=PromptSettings().system_prompt)
            evals[split] = evaluate(cfg, tasks, HalfRight(tasks), out, PromptSettings(), progress=False)
            write_report(out, tasks)
        record = {"dataset": "arc_train.jsonl", "tasks": 4, "samples": 12, "steps": 3, "wall_s": 9.0,
                  "losses": [[1, 1.5], [2, 0.9], [3, 0.4]], "recipe": "recipes/smollm2_cpu.yml"} if run.train else None
        results[run.name] = {"train": record, "eval": evals, "task_outcomes": {}}
    png = work / "results.png"
    plot_losses(results, png)
    return write_index(plan, results, work, png, "python -m experiments --scale demo"), [r.name for r in plan.runs]


def test_index_shows_the_table_the_curve_and_links_to_every_report(tmp_path):
    page, runs = _finished_experiment(tmp_path / "work")
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    res = subprocess.run([CHROMIUM, *FLAGS, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, re.S)
    assert found, res.stderr[-2000:]
    seen = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert seen["rows"] == runs and "score eval" in seen["headers"]
    assert seen["image_width"] > 100  # the embedded loss curve decodes and is drawn
    assert [text for text, _ in seen["reports"]] == ["base on train", "base on eval", "train on train",
                                                     "train on eval"]
    hrefs = [href for _, href in seen["reports"]] + seen["score_links"]
    assert len(seen["score_links"]) == 4
    for href in hrefs:  # relative links that lead to the reports written beside the index
        assert (page.parent / href).is_file() and href.endswith("report.html")
    assert any("train scores" in answer for answer in seen["answers"])


def test_index_screenshot_draws_the_loss_curve(tmp_path):
    from PIL import Image

    page, _ = _finished_experiment(tmp_path / "work")
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--screenshot={shot}", "--window-size=1200,1400", page.as_uri()],
                   capture_output=True, timeout=120)
    colours = set(Image.open(shot).convert("RGB").getdata())
    assert (0x1F, 0x77, 0xB4) in colours  # matplotlib's first line colour: the curve is on screen
