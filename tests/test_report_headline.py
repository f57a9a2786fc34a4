"""report.html leads with the answer: score, tasks and outputs solved, what was evaluated, then the selections."""

from __future__ import annotations

import json

from evalkit.report import write_report
from tests.conftest import ROOT

SUMMARY = {"score": 0.375, "output_accuracy": 1 / 3, "n_tasks": 8, "n_outputs": 9, "tasks_solved": 3,
           "model": str(ROOT / "models" / "smollm2-135m-instruct"), "adapter": "/elsewhere/adapter",
           "adapter_per_task": None, "split": "eval", "select": "likelihood", "augmentations": 2,
           "selection": {"likelihood": {"score": 0.375, "pass_at_1": 0.25, "pass_at_2": 1 / 3,
                                        "oracle_pass_at_n": 0.5},
                         "vote": {"score": 0.25, "pass_at_1": 0.125, "pass_at_2": 0.25, "oracle_pass_at_n": 0.5}}}


def test_headline_comes_first_with_relative_paths(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    (tmp_path / "summary.json").write_text(json.dumps(SUMMARY))
    page = write_report(tmp_path, []).read_text()
    body = page[page.index("<h1>"):]
    headline = body[:body.index("<table class='selection'>")]
    assert "score <b>0.375</b>" in headline and "tasks solved <b>3/8</b>" in headline
    assert "outputs solved 33.3% of 9" in headline
    assert "<code>models/smollm2-135m-instruct</code>" in headline  # inside the repository: relative
    assert "<code>/elsewhere/adapter</code>" in headline and "<code>likelihood</code>" in headline
    selection = body[body.index("<table class='selection'>"):body.index("<details>")]
    assert "<td>likelihood</td><td>0.375</td><td>25.0%</td><td>33.3%</td><td>50.0%</td>" in selection
    assert "{'likelihood'" not in page  # no Python dict dumped anywhere
    assert body.index("<details>") < body.index("<div id='tasks'>")
