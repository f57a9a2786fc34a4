"""Paths every package agrees on, relative to the repository root (where commands are run)."""

from pathlib import Path

# The embedded base model, SmolLM2-135M-Instruct, converted by `make model` (python -m recipes model).
EMBEDDED_MODEL_DIR = Path("models/smollm2-135m-instruct")

# The broad prior: a LoRA adapter of the embedded model trained once on every ARC-1 train task, shipped in the
# repository (python -m recipes prior; recipes/prior.py says when it is missing or stale).
PRIOR_DIR = Path("models/smollm2-135m-arc1-prior")
PRIOR2_DIR = Path("models/smollm2-135m-arc1-prior2")  # its second pass over fresh views, continuing PRIOR_DIR
PRIOR_DIRS = {"prior": PRIOR_DIR, "prior2": PRIOR2_DIR}  # by name: the make target, the matrix's `adapter:`
ADAPTER_WEIGHTS = "adapter_model.safetensors"  # the file a peft adapter keeps its weights in

# Prefixes that mark a model/adapter reference as a local folder rather than a hub id.
LOCAL_PREFIXES = ("./", "/", "out/", f"{EMBEDDED_MODEL_DIR.parts[0]}/")


def is_local_path(ref: str) -> bool:
    """True when ``ref`` names a local folder (``models/...``, ``./...``, ``/...``, ``out/...``), not a hub id."""
    return ref.startswith(LOCAL_PREFIXES)
