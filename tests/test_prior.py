"""The shipped broad prior: its manifest matches its recipe and data/spec.yml; missing or stale says so in one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from arccommon.errors import UserError
from arccommon.paths import PRIOR2_DIR, PRIOR_DIR
from experiments.plan import load_matrix
from recipes.launch import RESUME_LINE, STEPS_LINE
from recipes.prior import (MANIFEST, PRIOR_RECIPE, PRIORS, SHIPPED_FILES, prior_problem, read_log, recipe_sha256,
                           ship)
from tests.conftest import ROOT

STEP = "{{'loss': '{loss}', 'grad_norm': '0.5', 'learning_rate': '0.001', 'tokens/total': {tokens}, 'epoch': '0.1'}}"


@pytest.mark.parametrize("name", list(PRIORS))
def test_the_shipped_prior_matches_its_recipe_and_the_data_spec(name):
    """What `make data` builds from data/spec.yml must hash as the data the prior was trained on, its recipe's
    settings as its recipe's, and the prior it continues as the one shipped: else the prior is stale and this says
    how to retrain it."""
    prior = PRIORS[name]
    problem = prior_problem(prior.dest, ROOT)
    assert problem is None, problem
    manifest = json.loads((ROOT / prior.dest / MANIFEST).read_text())
    assert manifest["recipe"] == str(prior.recipe) and manifest["tasks"] == 400
    assert (ROOT / prior.dest / "adapter_model.safetensors").stat().st_size <= 40 << 20
    assert (ROOT / prior.dest / "loss.png").exists()
    assert manifest["final_loss_mean_last_20"] < manifest["first_loss_mean_first_20"]
    assert manifest.get("continues") == (str(PRIOR_DIR) if name == "prior2" else None)


def fake_training(root: Path, steps: int = 5, resume_at: int | None = None, recipe_path: Path = PRIOR_RECIPE) -> Path:
    """A repository root with a prior's recipe, its dataset manifest and a finished Axolotl output folder."""
    (root / "recipes").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / recipe_path, root / recipe_path)
    recipe = yaml.safe_load((root / recipe_path).read_text())
    data = root / recipe["datasets"][0]["path"]
    data.parent.mkdir(parents=True, exist_ok=True)
    data.with_suffix("").with_suffix(".manifest.json").write_text(json.dumps(
        {"samples": 3, "task_ids": ["a", "b"], "jsonl_sha256": "x", "tokens": {"max": 10}}))
    out = root / recipe["output_dir"]
    out.mkdir(parents=True)
    for name in SHIPPED_FILES:
        (out / name).write_text("{}")
    lines = ["Maximum number of steps set at 5"]
    for i in range(1, steps + 1):
        lines.append(STEP.format(loss=2.0 / i, tokens=100 * i))
        if resume_at is not None and i == resume_at + 1:  # interrupted after this step, resumed from resume_at
            lines += ["Maximum number of steps set at 5",
                      f"[INFO] Using auto-resume functionality to resume from checkpoint at {out}/checkpoint-"
                      f"{resume_at}", STEP.format(loss=9.0, tokens=100 * (resume_at + 1))]
    lines.append("{'train_runtime': '12.5', 'train_loss': '1.0', 'epoch': '1.0', 'num_input_tokens_seen': 500}")
    (out / "train.log").write_text("\n".join(lines) + "\n")
    return out


def test_a_step_redone_after_a_resume_keeps_its_last_loss(tmp_path):
    out = fake_training(tmp_path, resume_at=2)
    curve, steps, ends = read_log(out / "train.log")
    assert [s for s, _ in curve] == [1, 2, 3, 4, 5]
    assert dict(curve)[3] == 9.0 and dict(curve)[5] == pytest.approx(0.4)
    assert ends[-1]["train_runtime"] == 12.5


def test_ship_then_missing_or_stale_is_one_line(tmp_path):
    out = fake_training(tmp_path)
    manifest = ship(out, PRIOR_RECIPE, PRIOR_DIR, tmp_path)
    assert manifest["steps"] == 5 and manifest["first_loss"] == 2.0 and manifest["trainer_seconds"] == 12.5
    assert manifest["recipe_sha256"] == recipe_sha256(tmp_path / PRIOR_RECIPE) and manifest["tasks"] == 2
    assert sorted(p.name for p in (tmp_path / PRIOR_DIR).iterdir()) == sorted([*SHIPPED_FILES, MANIFEST, "loss.png"])
    assert not list((tmp_path / PRIOR_DIR).parent.glob(".*")), "the staging folder is left behind"
    assert prior_problem(PRIOR_DIR, tmp_path) is None

    recipe = tmp_path / PRIOR_RECIPE
    recipe.write_text(recipe.read_text() + "# a comment changes nothing\n")
    assert prior_problem(PRIOR_DIR, tmp_path) is None
    recipe.write_text(recipe.read_text().replace("learning_rate: 0.001", "learning_rate: 0.002"))
    problem = prior_problem(PRIOR_DIR, tmp_path)
    assert problem.startswith(f"{PRIOR_DIR}: stale: {PRIOR_RECIPE} changed") and "make prior" in problem

    ship(out, PRIOR_RECIPE, PRIOR_DIR, tmp_path)  # shipped again over the old one
    data_manifest = next((tmp_path / "data").glob("*.manifest.json"))
    data_manifest.write_text(data_manifest.read_text().replace('"samples": 3', '"samples": 4'))
    problem = prior_problem(PRIOR_DIR, tmp_path)
    assert "stale" in problem and "data/spec.yml" in problem and "\n" not in problem

    shutil.rmtree(tmp_path / PRIOR_DIR)
    assert prior_problem(PRIOR_DIR, tmp_path) == f"{PRIOR_DIR}: no shipped prior here; train it with `make prior`"


def test_the_second_pass_is_stale_when_the_first_is_retrained(tmp_path):
    ship(fake_training(tmp_path), PRIOR_RECIPE, PRIOR_DIR, tmp_path)
    second = PRIORS["prior2"]
    assert prior_problem(second.dest, tmp_path) == f"{PRIOR2_DIR}: no shipped prior here; train it with `make prior2`"
    manifest = ship(fake_training(tmp_path, steps=4, recipe_path=second.recipe), second.recipe, second.dest, tmp_path)
    assert manifest["continues"] == str(PRIOR_DIR) and manifest["steps"] == 4
    assert prior_problem(second.dest, tmp_path) is None

    first_manifest = tmp_path / PRIOR_DIR / MANIFEST  # the first pass trained again: another manifest
    first_manifest.write_text(first_manifest.read_text().replace('"steps": 5', '"steps": 6'))
    assert prior_problem(second.dest, tmp_path) == (f"{PRIOR2_DIR}: stale: it continues {PRIOR_DIR}, which was "
                                                    "retrained since; retrain with `make prior2`")
    shutil.rmtree(tmp_path / PRIOR_DIR)  # a missing first pass is the second pass's problem too, in one line
    assert prior_problem(second.dest, tmp_path) == f"{PRIOR_DIR}: no shipped prior here; train it with `make prior`"


def test_an_unfinished_training_is_not_shipped(tmp_path):
    out = fake_training(tmp_path)
    (out / "adapter_model.safetensors").unlink()
    with pytest.raises(UserError, match="no finished adapter"):
        ship(out, PRIOR_RECIPE, PRIOR_DIR, tmp_path)
    assert not (tmp_path / PRIOR_DIR).exists()


def test_status_command_says_so_in_one_line(tmp_path):
    res = subprocess.run([sys.executable, "-m", "recipes", "prior", "--status", "--root", str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 1 and res.stdout.strip().endswith("train it with `make prior`"), res.stdout
    assert "Traceback" not in res.stderr


def test_the_progress_bar_reads_axolotls_step_count_and_resume():
    assert STEPS_LINE.findall(b"[INFO] Maximum number of steps set at 810\n") == [b"810"]
    line = b"Using auto-resume functionality to resume from checkpoint at out/smollm2_cpu_prior/checkpoint-120"
    assert RESUME_LINE.findall(line) == [b"120"]


def test_a_run_may_name_only_a_known_shipped_adapter(tmp_path):
    matrix = load_matrix()
    assert matrix["runs"]["prior"] == {"adapter": "prior", "evaluate": ["train", "eval"]}
    matrix["runs"]["prior"]["adapter"] = "elsewhere"
    path = tmp_path / "matrix.yml"
    path.write_text(yaml.safe_dump(matrix))
    with pytest.raises(UserError, match="runs.prior: adapter 'elsewhere'"):
        load_matrix(path)
