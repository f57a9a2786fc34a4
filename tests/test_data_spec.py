"""The data spec: every entry is a valid build config, builds land beside the spec, rebuilds are skipped."""

import subprocess
import sys

from arcprep.spec import load_spec
from tests.conftest import ROOT


def test_repo_spec_is_valid():
    configs = load_spec(ROOT / "data" / "spec.yml")
    assert configs
    for cfg in configs.values():
        cfg.check()


def test_data_command_builds_and_skips(tmp_path, task_folder):
    spec = tmp_path / "spec.yml"
    spec.write_text(f"defaults: {{seed: 1}}\ndatasets:\n  small: {{source: {task_folder}, copies: 2}}\n")
    cmd = [sys.executable, "-m", "arcprep", "data", "--spec", str(spec), "--quiet"]
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "small.jsonl").exists() and (tmp_path / "small.manifest.json").exists()
    second = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert "up to date" in second.stdout
    spec.write_text(f"datasets:\n  small: {{source: {task_folder}, copies: 2, bogus: 1}}\n")
    bad = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "small: unknown key(s) bogus" in bad.stderr and "Traceback" not in bad.stderr
