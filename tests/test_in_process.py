"""recipes/in_process.py: finished jobs are skipped, a failing job is one line naming it, finished records stay."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from recipes.in_process import FAILED_PREFIX

ROOT = Path(__file__).resolve().parents[1]


def test_failing_job_is_one_line_naming_it_and_keeps_finished_records(tmp_path: Path) -> None:
    done = tmp_path / "a" / "train.json"
    done.parent.mkdir()
    done.write_text('{"task": "a"}\n')
    bad = tmp_path / "b" / "recipe.yml"
    bad.parent.mkdir()
    bad.write_text("base_model: [unclosed\n")
    jobs = [{"name": "[ttt] a", "recipe": str(tmp_path / "a" / "recipe.yml"), "record": str(done), "extra": {}},
            {"name": "[ttt] b", "recipe": str(bad), "record": str(tmp_path / "b" / "train.json"), "extra": {}}]
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    log = tmp_path / "jobs.log"
    res = subprocess.run([sys.executable, "-m", "recipes.in_process", str(tmp_path / "jobs.json"), "--log", str(log)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 1
    lines = [line for line in res.stdout.splitlines() if line.startswith(FAILED_PREFIX)]
    assert len(lines) == 1 and "[ttt] b: training failed" in lines[0], res.stdout + res.stderr
    assert "Traceback" not in res.stdout and log.exists()
    assert done.read_text() == '{"task": "a"}\n' and not (tmp_path / "b" / "train.json").exists()
