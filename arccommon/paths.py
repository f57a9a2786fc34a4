"""Paths every package agrees on, relative to the repository root (where commands are run)."""

from pathlib import Path

# The embedded base model, SmolLM2-135M-Instruct, converted by `make model` (python -m recipes model).
EMBEDDED_MODEL_DIR = Path("models/smollm2-135m-instruct")

# Prefixes that mark a model/adapter reference as a local folder rather than a hub id.
LOCAL_PREFIXES = ("./", "/", "out/", f"{EMBEDDED_MODEL_DIR.parts[0]}/")


def is_local_path(ref: str) -> bool:
    """True when ``ref`` names a local folder (``models/...``, ``./...``, ``/...``, ``out/...``), not a hub id."""
    return ref.startswith(LOCAL_PREFIXES)
