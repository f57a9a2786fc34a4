"""The two prompt formats: message layout, and — through Axolotl's own preprocessing — which tokens carry the loss."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from arcprep.build import BuildConfig, build_dataset
from arcprep.prompt import MULTITURN_SYSTEM_PROMPT, SYSTEM_PROMPT, chat_messages
from arcprep.tasks import Pair
from recipes.record import prompt_settings, training_record, write_training_record

ROOT = Path(__file__).resolve().parents[1]
TRAIN = [Pair([[1]], [[2]]), Pair([[3, 3]], [[4, 4]])]
TEST = Pair([[5]], [[6]])


def test_multiturn_has_a_turn_pair_per_demonstration():
    msgs = chat_messages(TRAIN, TEST, prompt_format="multiturn")
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    assert msgs[0]["content"] == MULTITURN_SYSTEM_PROMPT
    assert [m["content"] for m in msgs if m["role"] == "assistant"] == ["2", "44", "6"]
    assert msgs[3]["content"] == "Input:\n33" and msgs[5]["content"] == "Input:\n5"
    prompt = chat_messages(TRAIN, Pair([[5]]), with_answer=False, prompt_format="multiturn")
    assert prompt == msgs[:-1]  # inference: the earlier outputs are given, the last one is generated


def test_single_format_is_unchanged():
    msgs = chat_messages(TRAIN, TEST)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant"] and msgs[0]["content"] == SYSTEM_PROMPT
    assert msgs[1]["content"].startswith("Example 1\nInput:\n1\nOutput:\n2") and msgs[2]["content"] == "6"
    with pytest.raises(ValueError, match="unknown prompt format"):
        chat_messages(TRAIN, TEST, prompt_format="chat")


def test_format_goes_from_manifest_to_training_record_to_evalkit(tmp_path, task_folder):
    data = tmp_path / "m.jsonl"
    manifest = build_dataset(BuildConfig(source=str(task_folder), prompt_format="multiturn"), data, progress=False)
    assert manifest["prompt_format"] == "multiturn" and manifest["system_prompt"] == MULTITURN_SYSTEM_PROMPT
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    write_training_record(adapter, training_record(Path("r.yml"), {"datasets": [{"path": str(data)}]}, tmp_path))
    settings = prompt_settings(adapter)
    assert (settings.prompt_format, settings.system_prompt) == ("multiturn", MULTITURN_SYSTEM_PROMPT)
    assert prompt_settings(None).prompt_format == "single"


def test_budget_trims_demonstration_turns_never_below_one(tmp_path, model_dir):
    out = tmp_path / "t.jsonl"
    build_dataset(BuildConfig(source="train", max_side=10, limit=6, prompt_format="multiturn", tokenizer=str(model_dir),
                              max_tokens=400), out, progress=False)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert any(r["dropped_train"] for r in records)
    for r in records:
        assert r["n_tokens"] <= 400 and r["n_train"] >= 1
        assert sum(m["role"] == "assistant" for m in r["messages"]) == r["n_train"] + 1


def _spans(ids: list[int], labels: list[int]) -> list[list[int]]:
    """Runs of consecutive tokens whose label is not -100."""
    spans, current = [], []
    for token, label in zip(ids, labels):
        if label != -100:
            current.append(token)
        elif current:
            spans.append(current)
            current = []
    return spans + ([current] if current else [])


@pytest.mark.slow
def test_axolotl_trains_on_every_output_in_multiturn_and_on_the_answer_in_single(tmp_path, model_dir):
    """Axolotl's own preprocessing (the CPU recipe's dataset settings): decode exactly the tokens with a label."""
    from datasets import load_from_disk
    from transformers import AutoTokenizer

    paths = {}
    for fmt in ("single", "multiturn"):
        paths[fmt] = tmp_path / f"{fmt}.jsonl"
        build_dataset(BuildConfig(source="train", max_side=6, limit=4, augment=["dihedral", "color"], copies=2,
                                  prompt_format=fmt, tokenizer=str(model_dir), max_tokens=768), paths[fmt],
                      progress=False)
    recipe = yaml.safe_load((ROOT / "recipes" / "smollm2_cpu.yml").read_text())
    recipe.pop("train_device")  # ours, not Axolotl's
    recipe.update(base_model=str(model_dir), output_dir=str(tmp_path / "out"),
                  dataset_prepared_path=str(tmp_path / "prepared"),
                  datasets=[{**recipe["datasets"][0], "path": str(p)} for p in paths.values()])
    (tmp_path / "recipe.yml").write_text(yaml.safe_dump(recipe))
    res = subprocess.run([sys.executable, "-m", "axolotl.cli.preprocess", str(tmp_path / "recipe.yml")],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]

    tok = AutoTokenizer.from_pretrained(model_dir)
    expected, formats = {}, {}
    for fmt, path in paths.items():
        for line in path.read_text().splitlines():
            messages = json.loads(line)["messages"]
            ids = tuple(tok(tok.apply_chat_template(messages, tokenize=False), add_special_tokens=False)["input_ids"])
            expected[ids] = [m["content"] + "<|im_end|>" for m in messages if m["role"] == "assistant"]
            formats[ids] = fmt
    # Axolotl writes the tokenized dataset in a hashed folder beside a lock folder: take the one that is a dataset
    saved = [p.parent for p in (tmp_path / "prepared").glob("*/dataset_info.json")]
    assert len(saved) == 1, sorted(p.name for p in (tmp_path / "prepared").iterdir())
    prepared = load_from_disk(str(saved[0]))
    assert len(prepared) == len(expected)
    seen = {"single": 0, "multiturn": 0}
    for row in prepared:
        ids = tuple(row["input_ids"][:len(row["labels"])])
        key = next(k for k in expected if ids[:len(k)] == k)  # the record this sample was tokenized from
        trained = [tok.decode(span) for span in _spans(list(ids), row["labels"])]
        assert trained == expected[key], (formats[key], trained, expected[key])
        seen[formats[key]] += 1
        if formats[key] == "single":
            assert len(trained) == 1
    assert seen["single"] == seen["multiturn"] == len(prepared) // 2
    # every output grid, and no input grid: in multiturn one span per demonstration output plus the answer
    assert all(len(v) >= 2 for k, v in expected.items() if formats[k] == "multiturn")

