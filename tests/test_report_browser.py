"""report.html in a real headless Chromium: grids are drawn in the ARC palette, sorting and filtering work.

A probe script is appended to a copy of the report; Chromium runs it on load, clicks the page's own buttons
and writes what it saw into the DOM, which ``--dump-dom`` prints. A screenshot checks the pixels.
Skipped when Chromium is not installed, except under CI (``.ci/run`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from arcprep.encoding import encode_grid, max_answer_tokens
from arcprep.sources import load_source
from evalkit.generate import Generation
from evalkit.report import PALETTE, write_report
from evalkit.run import EvalConfig, evaluate
from recipes.record import PromptSettings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                                reason="chromium not installed (apt-get install chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--mute-audio", "--hide-scrollbars"]

PROBE = """
<script>
window.addEventListener('load', () => {
  const ids = () => [...document.querySelectorAll('.task')].map(t => t.dataset.id);
  const visible = () => [...document.querySelectorAll('.task')].filter(t => t.offsetParent !== null)
                                                                .map(t => t.dataset.id);
  const click = label => [...document.querySelectorAll('button')].find(b => b.textContent === label).click();
  const out = {initial: ids()};
  click('sort by score'); out.by_score = ids();
  click('sort by id'); out.by_id = ids();
  click('solved'); out.solved = visible();
  click('unsolved'); out.unsolved = visible();
  click('all'); out.all = visible();
  const cells = [...document.querySelectorAll('.grid div')];
  out.cell_colours = [...new Set(cells.map(c => getComputedStyle(c).backgroundColor))];
  out.cell_sizes = [...new Set(cells.map(c => Math.round(c.getBoundingClientRect().width)))];
  out.captions = [...document.querySelectorAll('figcaption')].map(f => f.textContent);
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


class HalfRight:
    """Answers every other task's test output correctly (tasks 0, 2, ...), the rest with a 1x1 grid."""

    def __init__(self, tasks):
        from evalkit.predict import work_items

        self.answers = {work_items(t, 1, 0, PromptSettings())[0].messages[1]["content"]: t.test[0].output
                        for t in tasks[::2]}

    def __call__(self, conversations, **_):
        return [Generation(encode_grid(self.answers[m[1]["content"]]) if m[1]["content"] in self.answers else "7",
                           -0.5, 3) for m in conversations]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tasks = [t for t in load_source("train").tasks if len(t.test) == 1][:4]
    out = tmp_path_factory.mktemp("report")
    cfg = EvalConfig("train", None, "fake", max_new_tokens=max_answer_tokens(), system_prompt=PromptSettings().system_prompt)
    evaluate(cfg, tasks, HalfRight(tasks), out, PromptSettings(), progress=False)
    return write_report(out, tasks), tasks


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def test_report_renders_sorts_and_filters_in_chromium(report, tmp_path):
    page, tasks = report
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    res = subprocess.run([CHROMIUM, *FLAGS, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, re.S)
    assert found, res.stderr[-2000:]
    seen = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    ids = sorted(t.id for t in tasks)
    solved, unsolved = sorted(t.id for t in tasks[::2]), sorted(t.id for t in tasks[1::2])
    assert seen["initial"] == [t.id for t in tasks]
    assert seen["by_score"] == solved + unsolved        # solved first, ties by id
    assert seen["by_id"] == ids
    assert sorted(seen["solved"]) == solved and sorted(seen["unsolved"]) == unsolved and sorted(seen["all"]) == ids
    used = {f"rgb({r}, {g}, {b})" for r, g, b in map(_rgb, PALETTE)}
    assert set(seen["cell_colours"]) <= used and len(seen["cell_colours"]) >= 3
    assert min(seen["cell_sizes"]) >= 4                 # cells are really laid out, not collapsed
    assert any(c.startswith("attempt 1 ✓") for c in seen["captions"])
    assert any(c.startswith("attempt 1 ✗") for c in seen["captions"])


def test_report_screenshot_shows_the_palette(report, tmp_path):
    from PIL import Image

    page, _ = report
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists()
    colours = set(Image.open(shot).convert("RGB").getdata())
    drawn = [c for c in PALETTE if _rgb(c) in colours]
    assert len(drawn) >= 3, drawn                       # several ARC colours are really on screen
    assert (0x2E, 0xCC, 0x40) in colours and (0xFF, 0x41, 0x36) in colours  # solved / unsolved markers
