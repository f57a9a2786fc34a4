"""A path argument that cannot be written ends in one line naming the path and the reason, and leaves nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

NOPE = "/proc/nope"  # no one can create a folder under /proc, not even root


@pytest.mark.parametrize("args, path", [
    (["-m", "arcprep", "build", "--source", "train", "--limit", "2", "--out", f"{NOPE}/x.jsonl"], f"{NOPE}/x.jsonl"),
    (["-m", "experiments", "--scale", "demo", "--tasks", "1", "--work", f"{NOPE}/work", "--plan-only"], NOPE),
])
def test_unwritable_output_is_one_line(args, path) -> None:
    res = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 2, res.stderr[-2000:]
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    lines = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and path in lines[0], res.stderr[-2000:]
