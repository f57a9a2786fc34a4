"""The chat format of one ARC sample: system prompt, user message (train pairs + test input), answer.

Shared by arcprep (training data) and evalkit (inference prompts) so both always agree.
"""

from __future__ import annotations

from arcprep.encoding import encode_grid
from arcprep.tasks import Grid, Pair

PROMPT_VERSION = "v1"
SYSTEM_PROMPT = (
    "You solve ARC puzzles. Each puzzle shows input and output grids of digits 0-9, one digit per cell "
    "and one line per row. Find the rule that turns every example input into its output, apply it to the "
    "test input, and answer with the test output grid only."
)


def user_message(train: list[Pair], test_input: Grid, encoding: str = "plain") -> str:
    """The user turn: every train pair, then the test input."""
    parts = [
        f"Example {i}\nInput:\n{encode_grid(p.input, encoding)}\nOutput:\n{encode_grid(p.output, encoding)}"
        for i, p in enumerate(train, 1)
        if p.output is not None
    ]
    parts.append(f"Test\nInput:\n{encode_grid(test_input, encoding)}\nOutput:")
    return "\n\n".join(parts)


def chat_messages(train: list[Pair], test: Pair, encoding: str = "plain", system: str = SYSTEM_PROMPT,
                  with_answer: bool = True) -> list[dict[str, str]]:
    """System/user[/assistant] messages for one sample; the assistant turn is the encoded test output."""
    messages = [{"role": "system", "content": system},
                {"role": "user", "content": user_message(train, test.input, encoding)}]
    if with_answer:
        if test.output is None:
            raise ValueError("test pair has no output to use as the answer")
        messages.append({"role": "assistant", "content": encode_grid(test.output, encoding)})
    return messages
