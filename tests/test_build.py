"""Dataset builds: deterministic bytes, faithful samples, token budgets, atomic output, manifest contents."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from arccommon.errors import UserError
from arcprep import build as build_module
from arcprep.augment import Augmentation
from arcprep.build import BuildConfig, build_dataset
from arcprep.encoding import decode_grid
from arcprep.sources import load_source
from arcprep.writer import manifest_path
from tests.conftest import ROOT

ALL = ["dihedral", "color", "swap", "shuffle"]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_same_inputs_same_bytes(tmp_path, task_folder):
    cfg = BuildConfig(source=str(task_folder), augment=ALL, copies=6, seed=3)
    build_dataset(cfg, tmp_path / "a.jsonl", progress=False)
    build_dataset(cfg, tmp_path / "b.jsonl", progress=False)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    ma, mb = (json.loads(manifest_path(tmp_path / n).read_text()) for n in ("a.jsonl", "b.jsonl"))
    ma.pop("jsonl"), ma.pop("name"), mb.pop("jsonl"), mb.pop("name")
    assert ma == mb
    build_dataset(BuildConfig(source=str(task_folder), augment=ALL, copies=6, seed=4), tmp_path / "c.jsonl",
                  progress=False)
    assert (tmp_path / "a.jsonl").read_bytes() != (tmp_path / "c.jsonl").read_bytes()


def test_samples_are_faithful(tmp_path, task_folder):
    """Every assistant answer, reverted with its recorded augmentation, is the task's true target."""
    out = tmp_path / "d.jsonl"
    manifest = build_dataset(BuildConfig(source=str(task_folder), augment=ALL, copies=8), out, progress=False)
    tasks = {t.id: t for t in load_source(str(task_folder)).tasks}
    records = _lines(out)
    assert len(records) == manifest["samples"] == sum(len(t.test) for t in tasks.values()) * 8
    for rec in records:
        assert [m["role"] for m in rec["messages"]] == ["system", "user", "assistant"]
        task, aug = tasks[rec["task_id"]], Augmentation.from_json(rec["augmentation"])
        answer = aug.invert_grid(decode_grid(rec["messages"][2]["content"]))
        expected = task.train[aug.swap].output if aug.swap is not None else task.test[rec["test_index"]].output
        assert answer == expected
        assert rec["n_train"] == len(task.train) and rec["dropped_train"] == 0
    assert sum(manifest["augmentations"]["dihedral"].values()) == len(records)
    assert manifest["jsonl_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()


def test_manifest_fields(tmp_path, task_folder):
    m = build_dataset(BuildConfig(source=str(task_folder), augment=["dihedral"], copies=8), tmp_path / "m.jsonl",
                      progress=False)
    for key in ("source", "seed", "encoding", "augment"):
        assert key in m["config"]
    for key in ("tasks", "samples", "augmentations", "tokens", "trimmed_samples", "dropped_samples",
                "jsonl_sha256", "arcprep_version"):
        assert key in m
    assert m["tasks"] == 6 and m["augmentations"]["dihedral"]["rot90"] == m["test_outputs"]


def test_interrupted_build_leaves_nothing(tmp_path, task_folder, monkeypatch):
    out = tmp_path / "x.jsonl"
    out.write_text("previous complete dataset\n")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(build_module, "_manifest", boom)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(BuildConfig(source=str(task_folder), copies=2), out, progress=False)
    assert out.read_text() == "previous complete dataset\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tasks", "x.jsonl"]


def test_bad_config_is_one_line():
    with pytest.raises(UserError, match="unknown augmentation"):
        build_dataset(BuildConfig(source="train", augment=["spin"]), Path("/nonexistent/x.jsonl"))
    with pytest.raises(UserError, match="needs --tokenizer"):
        build_dataset(BuildConfig(source="train", max_tokens=10), Path("/nonexistent/x.jsonl"))


def test_filters(tmp_path):
    m = build_dataset(BuildConfig(source="train", max_side=6, limit=5), tmp_path / "f.jsonl", progress=False)
    assert m["tasks"] == 5
    for rec in _lines(tmp_path / "f.jsonl"):
        assert all(len(line) <= 6 for line in rec["messages"][2]["content"].split("\n"))


def test_test_split_excludes_leaked(tmp_path):
    m = build_dataset(BuildConfig(source="test", exclude_leaked_from="train+eval"), tmp_path / "t.jsonl",
                      progress=False)
    excluded = m["excluded_leaked"]
    assert excluded["count"] > 0 and m["tasks"] == 120 - excluded["count"]
    assert not set(excluded["task_ids"]) & {r["task_id"] for r in _lines(tmp_path / "t.jsonl")}


def test_token_budget_trims_then_drops(tmp_path, model_dir):
    cfg = BuildConfig(source="train", limit=40, tokenizer=str(model_dir))
    full = build_dataset(cfg, tmp_path / "full.jsonl", progress=False)
    budget = int(full["tokens"]["median"])
    cfg.max_tokens = budget
    m = build_dataset(cfg, tmp_path / "cut.jsonl", progress=False)
    assert m["trimmed_samples"] > 0
    assert m["samples"] + m["dropped_samples"] == full["samples"]
    assert m["tokens"]["max"] <= budget
    for rec in _lines(tmp_path / "cut.jsonl"):
        assert rec["n_tokens"] <= budget and rec["n_train"] >= 1
    # the counted length is the real length under the chat template
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    rec = _lines(tmp_path / "cut.jsonl")[0]
    assert len(tok.apply_chat_template(rec["messages"], tokenize=True, return_dict=True)["input_ids"]) == rec["n_tokens"]


def test_cli_build_twice_identical(tmp_path, task_folder):
    args = [sys.executable, "-m", "arcprep", "build", "--source", str(task_folder), "--augment",
            "dihedral,color,swap,shuffle", "--copies", "4", "--seed", "1", "--quiet"]
    for name in ("a", "b"):
        res = subprocess.run(args + ["--out", str(tmp_path / f"{name}.jsonl")], capture_output=True, text=True, cwd=ROOT)
        assert res.returncode == 0, res.stderr
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    res = subprocess.run(args[:5] + ["nosuch", "--out", str(tmp_path / "z.jsonl")], capture_output=True, text=True,
                         cwd=ROOT)
    assert res.returncode == 2 and "Traceback" not in res.stderr and "nosuch" in res.stderr
    assert not (tmp_path / "z.jsonl").exists()
