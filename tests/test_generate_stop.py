"""RaggedStop ends a sequence exactly when its answer can no longer be a grid."""

from __future__ import annotations

import torch

from arcprep.encoding import max_answer_tokens
from evalkit.generate import RaggedStop

DIGITS, NL = list(range(10, 20)), 5


def run(answers: list[str], max_side: int | list[int] = 4) -> list[int | None]:
    """Feed answers token by token; return the step at which each was stopped (None: never)."""
    stop = RaggedStop(prompt_len=2, digit_ids=DIGITS, newline_id=NL, max_side=max_side)
    ids = torch.zeros(len(answers), 2, dtype=torch.long)
    stopped: list[int | None] = [None] * len(answers)
    for step in range(max(map(len, answers))):
        col = [DIGITS[int(a[step])] if step < len(a) and a[step].isdigit() else NL for a in answers]
        ids = torch.cat([ids, torch.tensor(col)[:, None]], dim=1)
        done = stop(ids, torch.zeros(len(answers), 1))
        for i, d in enumerate(done.tolist()):
            if d and stopped[i] is None:
                stopped[i] = step
    return stopped


def test_ragged_too_wide_and_too_tall_stop_valid_grids_do_not() -> None:
    answers = ["12\n34\n56\n", "12\n345\n", "12345", "1\n2\n3\n4\n5\n", "12\n\n34\n"]
    assert run(answers) == [None, 6, 4, 9, None]


def test_each_sequence_has_its_own_side_limit() -> None:
    answers = ["123\n456\n", "123\n456\n", "1\n2\n3\n"]
    assert run(answers, [3, 2, 2]) == [None, 2, 5]  # 3 cells fit a limit of 3, not 2; a third row does not fit 2


def test_answer_side_limit_reads_only_what_the_model_sees() -> None:
    from arcprep.sources import load_source
    from arcprep.tasks import Pair, Task
    from evalkit.predict import answer_side_limit, work_items
    from recipes.record import PromptSettings

    task = Task("t", [Pair([[1, 2, 3]], [[1], [2]])], [Pair([[5]], [[0] * 29] * 29)])
    assert answer_side_limit(task) == 6  # twice the longest side shown (3), whatever the hidden output is
    assert all(w.max_side == 6 for w in work_items(task, 2, 0, PromptSettings()))
    for split in ("train", "eval", "test"):  # no real test output is cut by it
        for t in load_source(split).tasks:
            assert all(max(len(p.output), len(p.output[0])) <= answer_side_limit(t) for p in t.test), t.id


def test_cut_off_answer_is_never_scored() -> None:
    from arcprep.augment import Augmentation
    from evalkit.generate import Generation
    from evalkit.predict import WorkItem, revert

    item = WorkItem("t", 0, Augmentation(), [], 1)
    assert revert(item, Generation("12\n34", -0.1, 5), "plain")["grid"] == [[1, 2], [3, 4]]
    cut = revert(item, Generation("12\n34", -0.1, 5, finished=False), "plain")
    assert cut["grid"] is None and "cut off" in cut["parse_error"]


def test_stop_past_truth_caps_each_batch(model_dir) -> None:
    """The cap is the batch's longest true answer + newline + end of turn; without answers, the default cap."""
    from evalkit import hf_predictor

    caps = []
    real = hf_predictor.generate_batch
    hf_predictor.generate_batch = lambda model, tok, prompts, cap, **_: caps.append(cap) or [None] * len(prompts)
    try:
        from transformers import AutoTokenizer

        pred = hf_predictor.HFPredictor(None, AutoTokenizer.from_pretrained(model_dir), batch_size=2)
        convs = [[{"role": "user", "content": "x" * n}] for n in (1, 2, 3)]
        pred(convs, answers=["12\n34", "1", "123\n456\n789"])
        pred(convs)
    finally:
        hf_predictor.generate_batch = real
    cap = max_answer_tokens()  # the default: a 30x30 grid + end of turn
    assert cap == 930 and caps == [5 + 2, 11 + 2, cap, cap]
