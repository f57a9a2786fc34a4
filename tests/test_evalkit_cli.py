"""evalkit's command line: clean one-line errors, and an end-to-end run on a tiny local model + adapter."""

import json
import subprocess
import sys

import pytest

from arcprep.sources import load_source
from recipes.record import TRAINING_RECORD
from tests.conftest import ROOT
from tests.tiny_models import build_tiny


def run(*args):
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


@pytest.fixture(scope="module")
def tiny_adapter(tmp_path_factory, model_dir):
    """A tiny Llama-shaped base and a LoRA adapter on it (peft), saved with tokenizer and training record."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root = tmp_path_factory.mktemp("tiny")
    base = build_tiny("llama", root / "base")
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(r=4, target_modules=["q_proj"]))
    adapter = root / "adapter"
    model.save_pretrained(adapter)
    AutoTokenizer.from_pretrained(base).save_pretrained(adapter)
    (adapter / TRAINING_RECORD).write_text(json.dumps(
        {"datasets": [{"encoding": "shape", "system_prompt": "Solve it."}]}))
    return base, adapter


def test_errors_are_one_line(tmp_path, tiny_adapter):
    base, adapter = tiny_adapter
    for args, expected in [(["--adapter", str(tmp_path / "none")], "no such adapter folder"),
                           (["--adapter", str(tmp_path)], "adapter_config.json missing"),
                           (["--adapter", str(adapter), "--base", str(tmp_path)], "trained on base"),
                           (["--base", str(base), "--split", "nosuch"], "nosuch: no such file or folder"),
                           ([], "give --adapter")]:
        res = run(*args)
        assert res.returncode == 2, res.stderr
        assert expected in res.stderr and "Traceback" not in res.stderr, res.stderr
    res = run("score", "--predictions", str(tmp_path / "p.json"), "--solutions", str(tmp_path / "s.json"))
    assert res.returncode == 2 and "no such file" in res.stderr


def test_help():
    top = run("--help").stdout
    assert "run" in top and "score" in top
    assert "--adapter" in run("run", "--help").stdout and "--solutions" in run("score", "--help").stdout


def test_flag_only_form_and_run_subcommand_parse_alike():
    from evalkit.__main__ import parser, request_from_args

    flags = ["--base", "b", "--split", "train", "--tasks", "a, b", "--augmentations", "3", "--quiet"]
    request = request_from_args(parser().parse_args(["run", *flags]))
    assert request.tasks == ["a", "b"] and request.augmentations == 3 and request.progress is False
    res = run("--base", "x", "--split", "nosuch")  # flag-only form reaches `run` and its one-line errors
    assert res.returncode == 2 and "nosuch: no such file or folder" in res.stderr and "Traceback" not in res.stderr


def test_corrupt_adapter_config_is_one_line(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{not json")
    res = run("run", "--adapter", str(tmp_path))
    assert res.returncode == 2 and "adapter_config.json: not valid JSON" in res.stderr and "Traceback" not in res.stderr


def test_end_to_end_tiny_adapter(tmp_path, tiny_adapter):
    _, adapter = tiny_adapter
    out = tmp_path / "eval"
    res = run("--adapter", str(adapter), "--split", "train", "--limit", "3", "--augmentations", "2",
              "--max-new-tokens", "12", "--batch-size", "4", "--out", str(out), "--quiet")
    assert res.returncode == 0, res.stderr[-3000:]
    lines = res.stdout.splitlines()  # a short summary, not a JSON dump: score, the selection table, the report
    assert any(line.startswith("score 0.000: tasks solved 0/3") for line in lines), res.stdout
    assert "oracle (2 views)" in res.stdout and "{" not in res.stdout, res.stdout
    assert any(line.split()[:1] == ["likelihood"] for line in lines) and lines[-1].endswith("report.html")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_tasks"] == 3 and summary["encoding"] == "shape" and summary["score"] == 0.0
    assert summary["generated_tokens"] > 0
    assert summary["select"] == "likelihood" and set(summary["selection"]) == {"vote", "likelihood"}  # 2 views
    records = [json.loads(line) for line in (out / "per_task.jsonl").read_text().splitlines()]
    assert len(records) == 3 and all(len(r["candidates"]) == 2 * len(r["attempts"]) for r in records)
    preds = json.loads((out / "predictions.json").read_text())
    assert set(preds) == {r["task_id"] for r in records}
    page = (out / "report.html").read_text()
    assert page.count('class="task ') == 3
    # the Kaggle scorer agrees with the run's own score
    solutions = {t.id: [p.output for p in t.test] for t in load_source("train").tasks if t.id in preds}
    (tmp_path / "sol.json").write_text(json.dumps(solutions))
    res = run("score", "--predictions", str(out / "predictions.json"), "--solutions", str(tmp_path / "sol.json"))
    assert res.returncode == 0 and json.loads(res.stdout)["score"] == summary["score"]
    # rerunning the same command skips finished tasks
    again = run("--adapter", str(adapter), "--split", "train", "--limit", "3", "--augmentations", "2",
                "--max-new-tokens", "12", "--batch-size", "4", "--out", str(out), "--quiet", "--json")
    assert again.returncode == 0 and json.loads(again.stdout[again.stdout.index("{"):again.stdout.rindex("}") + 1])["n_tasks"] == 3
    assert len((out / "per_task.jsonl").read_text().splitlines()) == 3
    # the library entry point, called the way experiments call it, writes the same predictions
    from evalkit.evaluator import EvalRequest, evaluate_split

    library, folder = evaluate_split(EvalRequest(split="train", adapter=adapter, limit=3, augmentations=2,
                                                 max_new_tokens=12, batch_size=4, out=tmp_path / "lib",
                                                 progress=False))
    assert folder == tmp_path / "lib" and library["score"] == summary["score"]
    assert (folder / "predictions.json").read_bytes() == (out / "predictions.json").read_bytes()
