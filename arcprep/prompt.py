"""The chat format of one ARC sample, in one of two prompt formats, shared by arcprep (training data) and evalkit
(inference prompts) so both always agree.

``single``: system prompt, one user turn (every demonstration pair, then the test input), one assistant turn (the
test output): a loss on the assistant turns falls on the test output only.
``multiturn``: system prompt, then per demonstration pair a user turn (its input) and an assistant turn (its
output), then the test input and the test output: the same loss falls on every output grid. At inference the last
assistant turn is generated; the earlier ones are given.
"""

from __future__ import annotations

from arcprep.encoding import encode_grid
from arcprep.tasks import Grid, Pair

PROMPT_VERSION = "v1"
PROMPT_FORMATS: tuple[str, ...] = ("single", "multiturn")
SYSTEM_PROMPT = (
    "You solve ARC puzzles. Each puzzle shows input and output grids of digits 0-9, one digit per cell "
    "and one line per row. Find the rule that turns every example input into its output, apply it to the "
    "test input, and answer with the test output grid only."
)
MULTITURN_SYSTEM_PROMPT = (
    "You solve ARC puzzles. Each user turn is an input grid of digits 0-9, one digit per cell and one line per "
    "row; answer with its output grid only. One rule turns every input of the conversation into its output: "
    "find it from the earlier turns."
)
SYSTEM_PROMPTS = {"single": SYSTEM_PROMPT, "multiturn": MULTITURN_SYSTEM_PROMPT}


def check_format(prompt_format: str) -> str:
    """``prompt_format`` if known, else ValueError naming the known ones."""
    if prompt_format not in PROMPT_FORMATS:
        raise ValueError(f"unknown prompt format {prompt_format!r}; known: {', '.join(PROMPT_FORMATS)}")
    return prompt_format


def user_message(train: list[Pair], test_input: Grid, encoding: str = "plain") -> str:
    """The single-format user turn: every train pair, then the test input."""
    parts = [
        f"Example {i}\nInput:\n{encode_grid(p.input, encoding)}\nOutput:\n{encode_grid(p.output, encoding)}"
        for i, p in enumerate(train, 1)
        if p.output is not None
    ]
    parts.append(f"Test\nInput:\n{encode_grid(test_input, encoding)}\nOutput:")
    return "\n\n".join(parts)


def input_turn(grid: Grid, encoding: str = "plain") -> str:
    """A multiturn user turn: one input grid."""
    return f"Input:\n{encode_grid(grid, encoding)}"


def chat_messages(train: list[Pair], test: Pair, encoding: str = "plain", system: str | None = None,
                  with_answer: bool = True, prompt_format: str = "single") -> list[dict[str, str]]:
    """The messages of one sample; the last assistant turn is the encoded test output (left out without
    ``with_answer``). ``system`` defaults to the format's own system prompt."""
    system = SYSTEM_PROMPTS[check_format(prompt_format)] if system is None else system
    messages = [{"role": "system", "content": system}]
    if prompt_format == "single":
        messages.append({"role": "user", "content": user_message(train, test.input, encoding)})
    else:
        for pair in train:
            if pair.output is not None:
                messages += [{"role": "user", "content": input_turn(pair.input, encoding)},
                             {"role": "assistant", "content": encode_grid(pair.output, encoding)}]
        messages.append({"role": "user", "content": input_turn(test.input, encoding)})
    if with_answer:
        if test.output is None:
            raise ValueError("test pair has no output to use as the answer")
        messages.append({"role": "assistant", "content": encode_grid(test.output, encoding)})
    return messages
