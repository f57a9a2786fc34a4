"""The data spec: one YAML file listing every dataset a recipe uses (``make data`` builds them all)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from arccommon.errors import UserError
from arccommon.files import load_yaml
from arcprep.build import BuildConfig, build_dataset
from arcprep.count_build import build_count_dataset
from arcprep.counting import CountConfig
from arcprep.writer import matches_manifest, read_manifest

DEFAULT_SPEC = Path("data/spec.yml")
DatasetConfig = BuildConfig | CountConfig
KINDS: dict[str, type] = {"arc": BuildConfig, "count_priors": CountConfig}


def load_spec(path: Path) -> dict[str, DatasetConfig]:
    """Read the spec: ``defaults`` merged under each entry of ``datasets`` -> {name: config}.

    ``kind`` picks the generator: ``arc`` (default; ARC tasks, :class:`BuildConfig`) or ``count_priors``
    (synthetic object-counting chats, :class:`CountConfig`). Defaults a kind does not know are ignored for it.
    """
    raw = load_yaml(path)
    if not isinstance(raw.get("datasets"), dict):
        raise UserError(f"{path}: needs a 'datasets' mapping")
    defaults = raw.get("defaults") or {}
    configs = {}
    for name, entry in raw["datasets"].items():
        entry = entry or {}
        kind = entry.get("kind", "arc")
        if kind not in KINDS:
            raise UserError(f"{path}:{name}: unknown kind {kind!r}; known: {', '.join(KINDS)}")
        fields = {f.name for f in dataclasses.fields(KINDS[kind])}
        unknown = sorted(set(entry) - fields - {"kind"})
        if unknown:
            raise UserError(f"{path}:{name}: unknown key(s) {', '.join(unknown)}")
        merged = {k: v for k, v in defaults.items() if k in fields and k != "kind"} | entry
        if kind == "arc":
            merged.pop("kind", None)
            if "source" not in merged:
                raise UserError(f"{path}:{name}: needs a 'source'")
        configs[name] = KINDS[kind](**merged)
    return configs


def build_any(cfg: DatasetConfig, out: Path, progress: bool = True) -> dict[str, Any]:
    """Build one spec entry with the generator of its kind; returns its manifest."""
    if isinstance(cfg, CountConfig):
        return build_count_dataset(cfg, out, progress=progress)
    return build_dataset(cfg, out, progress=progress)


def is_up_to_date(cfg: DatasetConfig, out: Path) -> bool:
    """True when ``out`` and its manifest exist and were built from exactly ``cfg``."""
    if not out.exists():
        return False
    try:
        manifest = read_manifest(out)
    except UserError:
        return False
    return (manifest is not None and manifest.get("config") == json.loads(json.dumps(dataclasses.asdict(cfg)))
            and matches_manifest(out, manifest))


def spec_outputs(path: Path, configs: dict[str, Any]) -> dict[str, Path]:
    """Output JSONL path of each dataset: beside the spec, ``NAME.jsonl``."""
    return {name: path.parent / f"{name}.jsonl" for name in configs}
