"""Token counting of chat samples with a Hugging Face tokenizer, and the train-pair trimming policy."""

from __future__ import annotations

import statistics
from typing import Any, Callable, Sequence

from arcprep.errors import ArcPrepError


class ChatTokenCounter:
    """Counts the tokens of chat samples exactly as the model's chat template renders them."""

    def __init__(self, tokenizer_path: str):
        try:
            from transformers import AutoTokenizer
        except ImportError:  # pragma: no cover - transformers is a dependency
            raise ArcPrepError("token counting needs the 'transformers' package") from None
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
        except (OSError, ValueError) as exc:
            raise ArcPrepError(f"{tokenizer_path}: cannot load a tokenizer ({str(exc).splitlines()[0]})") from None
        if not getattr(self.tokenizer, "chat_template", None):
            raise ArcPrepError(f"{tokenizer_path}: tokenizer has no chat template")
        self.name = tokenizer_path

    def count_many(self, conversations: Sequence[list[dict[str, str]]]) -> list[int]:
        """Token counts of many conversations (rendered with the chat template, tokenized in one batch)."""
        if not conversations:
            return []
        texts = self.tokenizer.apply_chat_template(list(conversations), tokenize=False)
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is not None and hasattr(backend, "encode_batch_fast"):  # Rust batch, no offsets: fastest
            return [len(enc.ids) for enc in backend.encode_batch_fast(texts, add_special_tokens=False)]
        return [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def count(self, messages: list[dict[str, str]]) -> int:
        return self.count_many([messages])[0]


def trim_to_budget(n_train: int, count: Callable[[int], int], max_tokens: int) -> tuple[int, int] | None:
    """Find how many train pairs to keep so the sample fits ``max_tokens``.

    ``count(k)`` gives the sample's length with its first ``k`` train pairs. Pairs are dropped from the
    end, never below one. Returns (kept, tokens), or None if even one pair does not fit.
    """
    for kept in range(n_train, 0, -1):
        tokens = count(kept)
        if tokens <= max_tokens:
            return kept, tokens
    return None


def token_stats(counts: list[int], tokenizer: str | None) -> dict[str, Any] | None:
    """Manifest token statistics (min, median, p90, max, total) of per-sample counts; None without counts."""
    if not counts:
        return None
    ordered = sorted(counts)
    return {"tokenizer": tokenizer, "min": ordered[0], "median": statistics.median(ordered),
            "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], "max": ordered[-1], "total": sum(ordered)}
