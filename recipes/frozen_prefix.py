"""The Axolotl plugin that computes the frozen bottom layers once per sample and replays them afterwards.

Why: the CPU recipes put LoRA on the top layers only (the demo scale: 10 of SmolLM2's 30), so the layers below
have no trainable weight and no dropout. Two kinds of work on them are wasted:
- the backward pass: Axolotl's ``load_adapter`` calls ``enable_input_require_grads()`` (needed by reentrant gradient
  checkpointing only), so the embeddings' output requires a gradient and every step backpropagates through all 30
  layers to reach it, although no weight below the first LoRA layer trains. Here the frozen layers run without
  autograd and the backward stops at the first layer that trains;
- the forward pass, when a sample comes back: a training stage sees each of its samples many times (the demo's
  `train`: 512 passes over 36 samples; per-task test-time training: 2 epochs), and the frozen layers' output for a
  sample is the same every time. It is kept per distinct input and handed to the first layer that trains.
The gradients of every trainable weight are unchanged: ``tests/test_frozen_prefix.py`` trains a tiny Llama with and
without it (fp32 and bf16 autocast) and finds the same losses and LoRA weights, bit for bit.

It wraps the first decoder layer's ``forward`` so that it runs the whole frozen prefix (or returns its stored output)
and makes the other prefix layers pass their input through. It acts in training mode, on a CPU, without a KV cache,
and only when the embeddings and the prefix are frozen and the model has no dropout; otherwise the model runs as
it is, with one line saying why. Stored outputs are keyed by a digest of the layer's inputs (hidden states, mask,
positions) and capped at ``CACHE_BYTES`` (least recently used out first). Recipes list it under ``plugins``.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any, Callable

import torch

from axolotl.integrations.base import BasePlugin

from recipes.labelled_logits import causal_lm

CACHE_BYTES = 4 << 30  # stored prefix outputs, at most (the cpu scale's largest stage needs ~0.2 GiB)


NOT_INPUTS = {"num_items_in_batch"}  # keyword arguments the layers receive that do not change their output


class Uncacheable(Exception):
    """An argument the digest cannot represent: run the prefix instead."""


def digest(value: Any, h: Any) -> None:
    """Feed ``value`` (tensors, tuples/lists/dicts of them, plain scalars) into the hash ``h``."""
    if isinstance(value, torch.Tensor):
        if value.device.type != "cpu":
            raise Uncacheable("tensor off the CPU")
        h.update(f"T{tuple(value.shape)}{value.dtype}".encode())
        h.update(value.detach().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, (tuple, list)):
        h.update(f"L{len(value)}".encode())
        for item in value:
            digest(item, h)
    elif isinstance(value, dict):
        h.update(f"D{len(value)}".encode())
        for key in sorted(value):
            h.update(str(key).encode())
            digest(value[key], h)
    elif value is None or isinstance(value, (bool, int, float, str)):
        h.update(repr(value).encode())
    else:
        raise Uncacheable(type(value).__name__)


def frozen_prefix_length(lm: torch.nn.Module) -> tuple[int, str]:
    """(number of bottom decoder layers that can be replayed, why not more); 0 when none can."""
    layers = getattr(getattr(lm, "model", None), "layers", None)
    if not isinstance(layers, torch.nn.ModuleList) or len(layers) == 0:
        return 0, f"{type(lm).__name__} has no model.layers"
    if any(p.requires_grad for p in lm.get_input_embeddings().parameters()):
        return 0, "the embeddings train"
    if float(getattr(lm.config, "attention_dropout", 0.0) or 0.0) > 0:
        return 0, "attention dropout"
    n = next((i for i, layer in enumerate(layers) if any(p.requires_grad for p in layer.parameters())), len(layers))
    if n == len(layers):
        return 0, "no decoder layer trains"
    if any(isinstance(m, torch.nn.Dropout) and m.p > 0 for layer in layers[:n] for m in layer.modules()):
        return 0, "dropout in the frozen layers"
    return n, f"layer {n} is the first that trains"


class PrefixCache:
    """Runs decoder layers ``0..n-1`` as one block from layer 0, storing their output per distinct input."""

    def __init__(self, layers: torch.nn.ModuleList, n: int, max_bytes: int = CACHE_BYTES) -> None:
        self.layers, self.n, self.max_bytes = layers, n, max_bytes
        self.forwards: list[Callable[..., Any]] = [layer.forward for layer in layers[:n]]
        self.store: OrderedDict[bytes, torch.Tensor] = OrderedDict()
        self.bytes = self.hits = self.misses = 0

    def install(self) -> None:
        self.layers[0].forward = self.forward
        for layer in self.layers[1:self.n]:
            layer.forward = passthrough

    def run(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        for forward in self.forwards:
            hidden_states = forward(hidden_states, *args, **kwargs)
        return hidden_states

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if not self.layers[0].training or kwargs.get("past_key_values") is not None:
            return self.run(hidden_states, *args, **kwargs)
        h = hashlib.blake2b(digest_size=20)
        inputs = {k: v for k, v in kwargs.items() if k not in NOT_INPUTS}
        try:
            digest((hidden_states, args, inputs, torch.is_autocast_enabled("cpu"),
                    str(torch.get_autocast_dtype("cpu"))), h)
        except Uncacheable:
            return self.run(hidden_states, *args, **kwargs)
        key = h.digest()
        if key in self.store:
            self.hits += 1
            self.store.move_to_end(key)
            return self.store[key].clone()
        self.misses += 1
        with torch.no_grad():
            out = self.run(hidden_states, *args, **kwargs).detach()
        size = out.numel() * out.element_size()
        if size <= self.max_bytes:
            self.store[key] = out.clone()
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, old = self.store.popitem(last=False)
                self.bytes -= old.numel() * old.element_size()
        return out

    def summary(self) -> str:
        return (f"layers 0-{self.n - 1}: {self.hits} passes replayed, {self.misses} computed, "
                f"{len(self.store)} stored ({self.bytes / 2**20:.0f} MiB)")


def passthrough(hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    """A frozen layer whose work the block at layer 0 has done already."""
    return hidden_states


def install(model: torch.nn.Module, max_bytes: int = CACHE_BYTES) -> tuple[PrefixCache | None, str]:
    """Install a :class:`PrefixCache` on ``model`` (a causal LM or a peft wrapper); (the cache or None, why)."""
    lm = causal_lm(model)
    n, why = frozen_prefix_length(lm)
    device = next(lm.parameters()).device
    if n and device.type != "cpu":
        n, why = 0, f"model on {device.type}"
    if not n:
        return None, why
    cache = PrefixCache(lm.model.layers, n, max_bytes)
    cache.install()
    return cache, why


class FrozenPrefixPlugin(BasePlugin):
    """Installs :class:`PrefixCache` once the trainer exists (the adapter's trainable weights are final then)."""

    def __init__(self) -> None:
        super().__init__()
        self.cache: PrefixCache | None = None

    def post_trainer_create(self, cfg: Any, trainer: Any) -> None:
        self.cache, why = install(trainer.model)
        if self.cache is None:
            print(f"[frozen_prefix] off: {why}", flush=True)
        else:
            print(f"[frozen_prefix] layers 0-{self.cache.n - 1} computed once per sample ({why})", flush=True)

    def post_train(self, cfg: Any, model: Any) -> None:
        if self.cache is not None:
            print(f"[frozen_prefix] {self.cache.summary()}", flush=True)
            self.cache.store.clear()
            self.cache = None
