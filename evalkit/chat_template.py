"""Prompts as both engines see them: conversations rendered with the tokenizer's chat template, then tokenized."""

from __future__ import annotations

from typing import Any


class ChatTemplate:
    """The rendering and token counting every predictor shares (the adapter's own tokenizer decides both)."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer

    def render(self, conversations: list[list[dict[str, str]]]) -> list[str]:
        """Each conversation as the text of a prompt that ends where the assistant's answer starts."""
        return self.tokenizer.apply_chat_template(conversations, tokenize=False, add_generation_prompt=True)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def count(self, messages: list[dict[str, str]]) -> int:
        """Tokens of one conversation's prompt (the budget that trims demonstration pairs)."""
        return len(self.encode(self.render([messages])[0]))
