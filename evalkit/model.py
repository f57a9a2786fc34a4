"""Load the base model (+ LoRA adapter) for evaluation; find which base an adapter was trained on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arccommon.errors import UserError
from arccommon.files import empty_tensors, read_json
from arccommon.paths import ADAPTER_WEIGHTS, is_local_path
from arccommon.precision import decide_precision


def find_adapter(folder: Path) -> Path:
    """``folder`` if it is an adapter; else the single final adapter below it (an Axolotl ``output_dir`` holds one
    beside its ``checkpoint-N`` folders). Several finals, or checkpoints only, are a one-line error listing them."""
    if not folder.is_dir():
        raise UserError(f"{folder}: no such adapter folder")
    if (folder / "adapter_config.json").exists():
        return folder
    found = sorted(p.parent for p in folder.rglob("adapter_config.json"))
    if not found:
        raise UserError(f"{folder}: no adapter here (adapter_config.json missing, also below it)")
    finals = [p for p in found if not any(part.startswith("checkpoint-") for part in p.relative_to(folder).parts)]
    if len(finals) == 1:
        return finals[0]
    listed = ", ".join(str(p) for p in (finals or found))
    raise UserError(f"{folder}: holds {len(finals or found)} adapters, not one final adapter; name one with "
                    f"--adapter: {listed}")


def resolve_base(adapter: Path | None, base: str | None) -> str:
    """The base model: from the adapter's own config; ``base`` must agree with it when both are given."""
    if adapter is None:
        if not base:
            raise UserError("give --adapter DIR, or --base MODEL to score a model without an adapter")
        return base
    config = adapter / "adapter_config.json"
    if not config.exists():
        raise UserError(f"{adapter}: no adapter here (adapter_config.json missing)")
    data = read_json(config)
    if not isinstance(data, dict):
        raise UserError(f"{config}: expected a JSON object")
    recorded = data.get("base_model_name_or_path")
    if base and recorded and Path(base).resolve() != Path(recorded).resolve() and base != recorded:
        raise UserError(f"{adapter}: trained on base {recorded}, not {base}")
    chosen = base or recorded
    if not chosen:
        raise UserError(f"{adapter}: adapter_config.json names no base model; pass --base")
    if is_local_path(chosen) and not Path(chosen).exists():
        raise UserError(f"{chosen}: base model folder missing (run `make model`)")
    return chosen


def load_model(base: str, adapter: Path | None, device: str = "cpu", dtype: str = "auto",
               tokenizer_from: Path | None = None) -> tuple[Any, Any]:
    """(model in eval mode, tokenizer with left padding). The adapter's own tokenizer is preferred (that of
    ``tokenizer_from``, an adapter folder, when the adapters are attached later).

    ``dtype`` auto: :func:`arccommon.precision.decide_precision` decides for ``device``.
    """
    import torch
    from transformers import AutoModelForCausalLM

    precision = decide_precision(device, dtype)
    tokenizer = load_tokenizer(base, adapter or tokenizer_from)
    try:
        model = AutoModelForCausalLM.from_pretrained(base, dtype=getattr(torch, precision.dtype))
    except OSError as exc:
        raise UserError(f"{base}: cannot load model ({str(exc).splitlines()[0]})") from None
    if adapter is not None:
        model = attach_adapter(model, adapter).merge_and_unload()
    return model.to(device).eval(), tokenizer


def check_adapter_weights(adapter: Path) -> None:
    """A one-line UserError when ``adapter``'s weights are missing or cannot be read (truncated, corrupt)."""
    weights = adapter / ADAPTER_WEIGHTS
    if not weights.exists():
        if (adapter / "adapter_model.bin").exists():
            return
        raise UserError(f"{weights}: missing (the adapter folder holds no weights)")
    from safetensors import SafetensorError

    try:
        empty = empty_tensors(weights)
    except (SafetensorError, OSError) as exc:
        raise UserError(f"{weights}: cannot be read ({str(exc).splitlines()[0]}); truncated or corrupt? train or "
                        "copy it again") from None
    if empty:
        raise UserError(f"{weights}: {empty} tensors hold no values (a ZeRO-3 save without gathering?); use a "
                        "checkpoint's adapter (python -m recipes train restores it)")


def attach_adapter(model: Any, adapter: Path, name: str | None = None) -> Any:
    """``model`` with ``adapter`` attached (a PeftModel; with ``name``: loaded into an existing PeftModel as that
    adapter); weights that do not read or do not fit the base are a one-line UserError."""
    from peft import PeftModel

    check_adapter_weights(adapter)
    try:
        if name is not None and isinstance(model, PeftModel):
            model.load_adapter(adapter, adapter_name=name)
            return model
        return PeftModel.from_pretrained(model, adapter, **({"adapter_name": name} if name else {}))
    except (RuntimeError, ValueError, KeyError) as exc:
        raise UserError(f"{adapter}: cannot be attached to its base ({str(exc).strip().splitlines()[0][:200]})") \
            from None


def load_tokenizer(base: str, saved: Path | None = None) -> Any:
    """The tokenizer saved with an adapter (``saved``), else the base model's; left padding, a pad token required."""
    from transformers import AutoTokenizer

    tok_dir = saved if saved is not None and (saved / "tokenizer_config.json").exists() else base
    try:
        tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    except OSError as exc:
        raise UserError(f"{tok_dir}: cannot load tokenizer ({str(exc).splitlines()[0]})") from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        raise UserError(f"{tok_dir}: tokenizer has no pad token")
    return tokenizer


def task_adapters(folder: Path) -> dict[str, Path]:
    """{task id: adapter} of a per-task folder ``folder/TASK_ID`` (an adapter, or an ``output_dir`` holding one)."""
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder of per-task adapters")
    found = {p.name: find_adapter(p) for p in sorted(folder.iterdir()) if p.is_dir()}
    if not found:
        raise UserError(f"{folder}: holds no per-task adapter folders (expected {folder}/TASK_ID/)")
    return found


class TaskAdapters:
    """One base model in memory and a LoRA adapter per task: ``folder/TASK_ID`` (an adapter, or an Axolotl
    ``output_dir`` holding one). A task without its own adapter uses ``fallback`` (the adapter test-time training
    started from), or the bare base without one. Adapters stay unmerged, so switching never alters the base."""

    FALLBACK = "fallback"

    def __init__(self, model: Any, found: dict[str, Path], fallback: Path | None):
        """``found``: {task id: adapter}, as :func:`task_adapters` lists them."""
        self.found = found
        self.has_fallback = fallback is not None
        self.active = self.FALLBACK if fallback is not None else next(iter(self.found))
        self.model = attach_adapter(model, fallback or self.found[self.active], self.active)
        self.enabled = True
        self.model.eval()

    def use(self, task_id: str) -> str:
        """Activate ``task_id``'s adapter (loading it and dropping the previous task's); returns its name, or
        ``base`` when the task has none and there is no fallback."""
        wanted = task_id if task_id in self.found else (self.FALLBACK if self.has_fallback else None)
        if wanted is None:  # the bare base: adapters off, the last one kept loaded so the model keeps one
            self.model.base_model.disable_adapter_layers()
            self.enabled = False
            return "base"
        if not self.enabled:
            self.model.base_model.enable_adapter_layers()
            self.enabled = True
        if wanted != self.active:
            if wanted not in self.model.peft_config:
                attach_adapter(self.model, self.found[wanted], wanted)
            previous, self.active = self.active, wanted
            self.model.set_adapter(wanted)
            if previous != self.FALLBACK:
                self.model.delete_adapter(previous)
            self.model.eval()
        return wanted
