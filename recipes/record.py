"""The training record: what ``python -m recipes train`` writes beside an adapter, and evalkit reads back to
rebuild the exact prompts the adapter was trained on (encoding, prompt format, system prompt, datasets'
manifests)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arccommon.files import atomic_write_text, read_json
from arcprep.prompt import SYSTEM_PROMPT, SYSTEM_PROMPTS
from arcprep.writer import read_manifest

TRAINING_RECORD = "arcprep_training.json"
# What the record keeps of each dataset's manifest (encoding, prompt format and system prompt rebuild the prompts).
MANIFEST_FACTS = ("name", "encoding", "prompt_format", "system_prompt", "prompt_version", "task_ids", "samples",
                  "jsonl_sha256")


@dataclass
class PromptSettings:
    """How prompts are rendered: grid encoding, system prompt and prompt format, and where they were read from."""

    encoding: str = "plain"
    system_prompt: str = SYSTEM_PROMPT
    source: str = "defaults"
    prompt_format: str = "single"


def training_record(recipe_path: Path, recipe: dict[str, Any], root: Path) -> dict[str, Any]:
    """The record of one training: recipe, merged config, base model, and each dataset's manifest facts."""
    datasets = []
    for ds in recipe.get("datasets") or []:
        manifest = read_manifest(root / ds["path"]) or {}
        datasets.append({"path": ds["path"], **{key: manifest.get(key) for key in MANIFEST_FACTS}})
    return {"recipe": str(recipe_path), "config": recipe, "base_model": recipe.get("base_model"),
            "datasets": datasets}


def write_training_record(out_dir: Path, record: dict[str, Any]) -> Path:
    path = out_dir / TRAINING_RECORD
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    return path


def prompt_settings(adapter: Path | None) -> PromptSettings:
    """Encoding, system prompt and prompt format recorded beside the adapter at training time (defaults for a bare
    base; a dataset manifest from before prompt formats existed means ``single``)."""
    if adapter is None or not (adapter / TRAINING_RECORD).exists():
        return PromptSettings()
    record = read_json(adapter / TRAINING_RECORD)
    datasets = [d for d in record.get("datasets", []) if d.get("encoding")]
    if not datasets:
        return PromptSettings()
    last = datasets[-1]  # the last stage's data decides the prompt format
    prompt_format = last.get("prompt_format") or "single"
    return PromptSettings(last["encoding"], last.get("system_prompt") or SYSTEM_PROMPTS[prompt_format],
                          str(adapter / TRAINING_RECORD), prompt_format)


def training_log(adapter: Path) -> dict[str, Any]:
    """Steps, tokens seen and the loss curve from the last checkpoint's trainer_state.json."""
    checkpoints = sorted(adapter.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    if not checkpoints:
        return {"steps": None, "tokens_seen": None, "losses": []}
    state = read_json(checkpoints[-1] / "trainer_state.json")
    logs = [e for e in state["log_history"] if "loss" in e]
    return {"steps": state["global_step"], "tokens_seen": logs[-1].get("tokens/total") if logs else None,
            "trainable_tokens_seen": logs[-1].get("tokens/trainable") if logs else None,
            "losses": [[e["step"], e["loss"]] for e in logs]}
