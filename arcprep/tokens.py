"""Token counting of chat samples with a Hugging Face tokenizer, and the token-budget policy of every builder."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from arccommon.errors import UserError

S = TypeVar("S")


class ChatTokenCounter:
    """Counts the tokens of chat samples exactly as the model's chat template renders them."""

    def __init__(self, tokenizer_path: str):
        try:
            from transformers import AutoTokenizer
        except ImportError:  # pragma: no cover - transformers is a dependency
            raise UserError("token counting needs the 'transformers' package") from None
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
        except (OSError, ValueError) as exc:
            raise UserError(f"{tokenizer_path}: cannot load a tokenizer ({str(exc).splitlines()[0]})") from None
        if not getattr(self.tokenizer, "chat_template", None):
            raise UserError(f"{tokenizer_path}: tokenizer has no chat template")
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


def check_budget(max_tokens: int | None, tokenizer: str | None) -> None:
    """A token budget needs a tokenizer to count with (checked by every builder before any work)."""
    if max_tokens is not None and not tokenizer:
        raise UserError("--max-tokens needs --tokenizer")


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


def fit_to_budget(samples: Iterable[S], render: Callable[[S, int], list[dict[str, str]]],
                  parts: Callable[[S], int], counter: ChatTokenCounter | None, max_tokens: int | None,
                  stats: Counter[str], chunk: int = 256) -> Iterator[tuple[S, int, list[dict[str, str]], int | None]]:
    """The token-budget policy of every builder: yield (sample, parts kept, messages, tokens) per kept sample.

    ``render(sample, k)`` gives the chat with the first ``k`` droppable parts (train pairs); ``parts(sample)`` how
    many it has. Counting is batched in chunks. A sample over ``max_tokens`` loses parts from the end (never
    below one; counted as ``trimmed_samples``) and is dropped (``dropped_samples``) only if still over.
    The caller has checked the budget (:func:`check_budget`): with ``max_tokens`` there is a ``counter``.
    """
    batch: list[S] = []

    def flush() -> Iterator[tuple[S, int, list[dict[str, str]], int | None]]:
        full = [render(s, parts(s)) for s in batch]
        lengths: list[int | None] = counter.count_many(full) if counter else [None] * len(batch)  # type: ignore
        for sample, messages, length in zip(batch, full, lengths):
            kept = parts(sample)
            if max_tokens is not None and length is not None and length > max_tokens:
                fit = trim_to_budget(kept - 1, lambda k, s=sample: counter.count(render(s, k)), max_tokens)
                if fit is None:
                    stats["dropped_samples"] += 1
                    continue
                kept, length = fit
                stats["trimmed_samples"] += 1
                messages = render(sample, kept)
            yield sample, kept, messages, length
        batch.clear()

    for sample in samples:
        batch.append(sample)
        if len(batch) >= chunk:
            yield from flush()
    yield from flush()
