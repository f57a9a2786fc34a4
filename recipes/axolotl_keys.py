"""The keys Axolotl's config knows, read from Axolotl's own schema: a recipe key outside them is a typo that
Axolotl would silently ignore (``lora_dropuot: 0.1`` trains with the default dropout)."""

from __future__ import annotations

import difflib
from functools import lru_cache
from typing import Any

from recipes import DEVICE_KEY

# Keys our own tooling reads from a recipe; Axolotl ignores them (tested by a real Axolotl run).
OWN_KEYS = frozenset({DEVICE_KEY})


@lru_cache(maxsize=1)
def axolotl_keys() -> tuple[frozenset[str], frozenset[str]] | None:
    """(top-level keys, dataset-entry keys) of Axolotl's config schema with their aliases; None without Axolotl."""
    try:
        from axolotl.utils.schemas.config import AxolotlConfigWCapabilities
        from axolotl.utils.schemas.datasets import SFTDataset
    except ImportError:
        return None

    def names(model: Any) -> frozenset[str]:
        fields = model.model_fields
        return frozenset(fields) | frozenset(f.alias for f in fields.values() if f.alias)

    return names(AxolotlConfigWCapabilities), names(SFTDataset)


def _unknown(keys: Any, known: frozenset[str], prefix: str) -> list[str]:
    problems = []
    for key in sorted(k for k in keys if k not in known):
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.8)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(f"{prefix}{key}: not a key Axolotl knows; it would be ignored{hint}")
    return problems


def unknown_keys(recipe: dict[str, Any]) -> list[str]:
    """One ``key: problem`` line per recipe key (and dataset key) that Axolotl does not know."""
    known = axolotl_keys()
    if known is None:
        return []
    top, dataset = known
    problems = _unknown(recipe, top | OWN_KEYS, "")
    for i, ds in enumerate(recipe.get("datasets") or []):
        if isinstance(ds, dict):
            problems += _unknown(ds, dataset, f"datasets[{i}].")
    return problems
