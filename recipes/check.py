"""Check recipes (Axolotl YAML) against our JSON Schema, Axolotl's own keys, and the datasets they name.

Run before training: ``python -m recipes check recipes/*.yml``. Each violation is one line naming the key.
A recipe states where it trains in ``train_device`` (``cpu`` | ``cuda``); CPU recipes get extra rules.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from arccommon.errors import UserError
from arccommon.files import load_yaml
from arccommon.paths import is_local_path
from arcprep.writer import matches_manifest, read_manifest
from recipes import DEVICE_KEY, RECIPES_DIR
from recipes.axolotl_keys import unknown_keys

SCHEMA_PATH = RECIPES_DIR / "schema.json"


@lru_cache(maxsize=1)
def _validators() -> tuple[jsonschema.protocols.Validator, jsonschema.protocols.Validator]:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    cpu = {"$schema": schema["$schema"], **schema["$defs"]["cpu"]}
    return cls(schema), cls(cpu)


def is_cpu_recipe(recipe: dict[str, Any]) -> bool:
    """A CPU recipe says so: ``train_device: cpu`` (whatever its file is called)."""
    return recipe.get(DEVICE_KEY) == "cpu"


def load_recipe(path: Path) -> dict[str, Any]:
    """A recipe's YAML as a mapping; a missing or malformed file is a one-line UserError naming it."""
    return load_yaml(path)


def _key(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in error.absolute_path).replace(".[", "[") \
        or "(top level)"


def check_recipe(path: Path, root: Path = Path("."), for_training: bool = False,
                 overrides: dict[str, Any] | None = None) -> list[str]:
    """All violations of one recipe, as ``key: problem`` strings (empty list = fine).

    Paths in the recipe are relative to ``root`` (the repository root, where training is launched).
    ``for_training`` adds checks of things made by earlier runs (e.g. a stage-1 adapter).
    """
    try:
        recipe = {**load_recipe(path), **(overrides or {})}
    except UserError as exc:
        return [f"(file): {str(exc).removeprefix(f'{path}: ')}"]
    main, cpu = _validators()
    problems = [f"{_key(e)}: {e.message}" for e in sorted(main.iter_errors(recipe), key=str)]
    if is_cpu_recipe(recipe):
        problems += [f"{_key(e)}: {e.message} (CPU recipe)" for e in sorted(cpu.iter_errors(recipe), key=str)]
    problems += unknown_keys(recipe)
    problems += _check_files(recipe, root, for_training)
    return problems


def _check_files(recipe: dict[str, Any], root: Path, for_training: bool) -> list[str]:
    problems = []
    base = recipe.get("base_model")
    if isinstance(base, str) and is_local_path(base) and not (root / base).exists():
        problems.append(f"base_model: {base} does not exist (run `make model`)")
    ds_config = recipe.get("deepspeed")
    if isinstance(ds_config, str):
        if not (root / ds_config).exists():
            problems.append(f"deepspeed: {ds_config} does not exist")
        else:
            try:
                json.loads((root / ds_config).read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                problems.append(f"deepspeed: {ds_config} is not valid JSON ({exc.msg})")
    seq_len = recipe.get("sequence_len")
    for i, ds in enumerate(recipe.get("datasets") or []):
        if not isinstance(ds, dict) or not isinstance(ds.get("path"), str):
            continue
        data = root / ds["path"]
        if not data.exists():
            problems.append(f"datasets[{i}].path: {ds['path']} does not exist (run `make data`)")
            continue
        info = read_manifest(data)
        if info is None:
            problems.append(f"datasets[{i}].path: {ds['path']} has no manifest: not made by arcprep")
            continue
        if not matches_manifest(data, info):
            problems.append(f"datasets[{i}].path: {ds['path']} does not hash as its manifest says (truncated or "
                            "edited since arcprep wrote it); rebuild it (`make data`)")
            continue
        longest = (info.get("tokens") or {}).get("max")
        if longest is None:
            problems.append(f"datasets[{i}].path: manifest has no token counts (build with --tokenizer)")
        elif isinstance(seq_len, int) and longest > seq_len:
            problems.append(f"sequence_len: {seq_len} is shorter than the longest sample of {ds['path']} "
                            f"({longest} tokens); rebuild with --max-tokens {seq_len} or raise sequence_len")
    adapter_dir = recipe.get("lora_model_dir")
    if for_training and isinstance(adapter_dir, str) and not (root / adapter_dir / "adapter_config.json").exists():
        problems.append(f"lora_model_dir: {adapter_dir} holds no adapter; train its stage-1 recipe first")
    return problems
