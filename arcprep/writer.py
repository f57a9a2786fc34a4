"""The one dataset writer: records -> JSONL + manifest, atomically and deterministically.

Every builder (ARC samples, count priors) hands its records here. The writer serialises each record the same way
(compact JSON, UTF-8), hashes the bytes, collects token statistics from ``n_tokens``, and writes
``NAME.manifest.json`` beside ``NAME.jsonl``: both through temp files, so an interrupted build leaves nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Iterable

from arccommon.errors import UserError
from arccommon.files import atomic_open, read_json, sha256_file
from arcprep import __version__
from arcprep.tokens import token_stats

MANIFEST_SUFFIX = ".manifest.json"


def manifest_path(out: Path) -> Path:
    """``data/NAME.jsonl`` -> ``data/NAME.manifest.json``."""
    return out.with_name(out.name.removesuffix(".jsonl") + MANIFEST_SUFFIX)


def read_manifest(jsonl: Path) -> dict[str, Any] | None:
    """The manifest of dataset ``jsonl``, or None when it has none (a malformed one is a one-line UserError)."""
    path = manifest_path(jsonl)
    return read_json(path) if path.exists() else None


def matches_manifest(jsonl: Path, manifest: dict[str, Any]) -> bool:
    """True when ``jsonl``'s bytes hash as its manifest says (False: truncated or edited since it was written)."""
    return manifest.get("jsonl_sha256") in (None, sha256_file(jsonl))


def encode_record(record: dict[str, Any]) -> str:
    """One JSONL line: compact separators, non-ASCII kept as UTF-8."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"


def write_dataset(out: Path, records: Iterable[dict[str, Any]], manifest: Callable[[], dict[str, Any]],
                  tokenizer: str | None, empty: str) -> dict[str, Any]:
    """Write ``records`` to ``out`` and the manifest beside it; returns the manifest.

    ``manifest()`` gives the builder's own fields, called once every record is written (so it may report what
    the records' generation counted); the writer adds name, file, sha256, version, sample count and token
    statistics. ``empty`` is the error when no record came.
    """
    digest, samples, token_counts = hashlib.sha256(), 0, []
    with atomic_open(out) as handle:
        for record in records:
            line = encode_record(record)
            handle.write(line)
            digest.update(line.encode("utf-8"))
            samples += 1
            if record.get("n_tokens") is not None:
                token_counts.append(record["n_tokens"])
        if samples == 0:
            raise UserError(empty)
        # the writer's own fields last: a builder's manifest (or one copied from another dataset) cannot contradict
        # the file just written
        result = {**manifest(), "name": out.name.removesuffix(".jsonl"), "jsonl": out.name,
                  "jsonl_sha256": digest.hexdigest(), "arcprep_version": __version__, "samples": samples,
                  "tokens": token_stats(token_counts, tokenizer)}
        with atomic_open(manifest_path(out)) as mhandle:
            mhandle.write(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return result
