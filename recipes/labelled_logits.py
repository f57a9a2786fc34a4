"""The Axolotl plugin that computes the LM head and the loss only at the positions that carry a label.

Why: a chat sample of an ARC task puts its loss on the output grids only (about a third of its tokens), yet a
causal LM's forward projects every position onto the whole vocabulary (49,152 tokens for SmolLM2) and the loss
upcasts those logits to fp32 for a log-softmax over all of them. On a CPU that head, its fp32 copies and the
log-softmax cost a quarter of a bf16 LoRA step (profile in docs/training.md). The loss is unchanged: the same
positions, the same sum, divided by the same count (``num_items_in_batch`` when the Trainer passes it, else the
number of labels), through the model's own ``loss_function``; logits are returned for the kept positions only.

Recipes list it under ``plugins``; it wraps the causal LM's ``forward`` after the model (and adapter) load, in
training mode only, for models whose forward takes ``logits_to_keep`` (Llama, Phi-3, Qwen, ...). Other models are
left as they are, with one line saying so.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import torch

from axolotl.integrations.base import BasePlugin

IGNORE_INDEX = -100


def labelled_positions(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(positions whose next token carries a label in any row of the batch, those next-token labels [B, K]).

    At least one position is kept, so a batch without labels still has logits of the right rank."""
    shifted = torch.nn.functional.pad(labels, (0, 1), value=IGNORE_INDEX)[:, 1:]
    keep = (shifted != IGNORE_INDEX).any(dim=0).nonzero().squeeze(1)
    if keep.numel() == 0:
        keep = torch.tensor([labels.shape[1] - 1], device=labels.device)
    return keep, shifted[:, keep]


def labelled_forward(model: torch.nn.Module) -> Callable[..., Any]:
    """``model.forward`` that, in training with labels, keeps the logits of the labelled positions only."""
    forward = model.forward

    @functools.wraps(forward)
    def wrapped(*args: Any, labels: torch.Tensor | None = None, **kwargs: Any) -> Any:
        if labels is None or not model.training or "logits_to_keep" in kwargs:
            return forward(*args, labels=labels, **kwargs)
        keep, shift_labels = labelled_positions(labels)
        out = forward(*args, labels=None, logits_to_keep=keep, **kwargs)
        out.loss = model.loss_function(logits=out.logits, labels=None, vocab_size=model.config.vocab_size,
                                       shift_labels=shift_labels,
                                       num_items_in_batch=kwargs.get("num_items_in_batch"))
        return out

    return wrapped


def causal_lm(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers causal LM inside a peft wrapper (or the model itself)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


class LabelledLogitsPlugin(BasePlugin):
    """Wraps the loaded causal LM's forward with :func:`labelled_forward`."""

    def post_model_load(self, cfg: Any, model: Any) -> None:
        lm = causal_lm(model)
        if "logits_to_keep" not in inspect.signature(lm.forward).parameters:
            print(f"[labelled_logits] {type(lm).__name__}.forward takes no logits_to_keep: full logits kept",
                  flush=True)
            return
        lm.forward = labelled_forward(lm)
        print(f"[labelled_logits] {type(lm).__name__}: LM head and loss at labelled positions only", flush=True)
