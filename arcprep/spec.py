"""The data spec: one YAML file listing every dataset a recipe uses (``make data`` builds them all)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import yaml

from arcprep.build import BuildConfig, manifest_path
from arcprep.errors import ArcPrepError

DEFAULT_SPEC = Path("data/spec.yml")
_FIELDS = {f.name for f in dataclasses.fields(BuildConfig)}


def load_spec(path: Path) -> dict[str, BuildConfig]:
    """Read the spec: ``defaults`` merged under each entry of ``datasets`` -> {name: BuildConfig}."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArcPrepError(f"{path}: no such data spec") from None
    except yaml.YAMLError as exc:
        raise ArcPrepError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("datasets"), dict):
        raise ArcPrepError(f"{path}: needs a 'datasets' mapping")
    defaults = raw.get("defaults") or {}
    configs = {}
    for name, entry in raw["datasets"].items():
        merged = {**defaults, **(entry or {})}
        if merged.get("kind", "arc") != "arc":
            continue  # other generators (e.g. count priors) are built by their own module
        merged.pop("kind", None)
        unknown = sorted(set(merged) - _FIELDS)
        if unknown:
            raise ArcPrepError(f"{path}:{name}: unknown key(s) {', '.join(unknown)}")
        if "source" not in merged:
            raise ArcPrepError(f"{path}:{name}: needs a 'source'")
        configs[name] = BuildConfig(**merged)
    return configs


def is_up_to_date(cfg: BuildConfig, out: Path) -> bool:
    """True when ``out`` and its manifest exist and were built from exactly ``cfg``."""
    mpath = manifest_path(out)
    if not out.exists() or not mpath.exists():
        return False
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return False
    return manifest.get("config") == json.loads(json.dumps(dataclasses.asdict(cfg)))


def spec_outputs(path: Path, configs: dict[str, Any]) -> dict[str, Path]:
    """Output JSONL path of each dataset: beside the spec, ``NAME.jsonl``."""
    return {name: path.parent / f"{name}.jsonl" for name in configs}
