"""augment -> predict -> revert -> vote round trips with fake predictors; resume after an interrupt."""

import json
import random

import pytest

from arcprep.augment import Augmentation
from arcprep.encoding import encode_grid, max_answer_tokens
from arcprep.sources import load_source
from evalkit.generate import Generation
from evalkit.predict import work_items
from evalkit.run import EvalConfig, evaluate
from recipes.record import PromptSettings

SETTINGS = PromptSettings()


class Oracle:
    """Returns the augmented truth: it can only score 1.0 if every augmentation is reverted exactly."""

    def __init__(self, tasks):
        self.tasks = {t.id: t for t in tasks}
        self.calls = 0

    def __call__(self, conversations, **_):
        self.calls += 1
        out = []
        for messages in conversations:
            out.append(self._answer(messages))
        return out

    def _answer(self, messages):
        # find which task/augmentation produced this prompt by rebuilding candidates
        for task in self.tasks.values():
            for item in work_items(task, 8, 0, SETTINGS):
                if item.messages == messages:
                    truth = task.test[item.test_index].output
                    return Generation(encode_grid(item.augmentation.apply_grid(truth)), -0.1, 5)
        raise AssertionError("prompt not recognised")


def noise(conversations, **_):
    rng = random.Random(0)
    return [Generation(encode_grid([[rng.randint(0, 9) for _ in range(3)] for _ in range(2)]), -1.0, 7)
            for _ in conversations]


@pytest.fixture(scope="module")
def tasks():
    return load_source("train").tasks[:6]


def _cfg(n_aug=8):
    return EvalConfig("train", None, "fake", augmentations=n_aug, max_new_tokens=max_answer_tokens(),
                      system_prompt=SETTINGS.system_prompt)


def test_oracle_scores_one(tmp_path, tasks):
    summary = evaluate(_cfg(), tasks, Oracle(tasks), tmp_path, SETTINGS, progress=False)
    assert summary["score"] == 1.0 and summary["output_accuracy"] == 1.0 and summary["oracle_pass_at_n"] == 1.0
    preds = json.loads((tmp_path / "predictions.json").read_text())
    assert preds[tasks[0].id][0]["attempt_1"] == tasks[0].test[0].output
    cands = [json.loads(line)["candidates"] for line in (tmp_path / "per_task.jsonl").read_text().splitlines()]
    assert {Augmentation.from_json(c["augmentation"]).dihedral for task in cands for c in task} == {
        "identity", "rot90", "rot180", "rot270", "flip_lr", "flip_ud", "transpose", "antitranspose"}


def test_noise_scores_zero(tmp_path, tasks):
    summary = evaluate(_cfg(4), tasks, noise, tmp_path, SETTINGS, progress=False)
    assert summary["score"] == 0.0 and summary["unparseable_candidates"] == 0.0


def test_unparseable_answers_counted(tmp_path, tasks):
    summary = evaluate(_cfg(2), tasks, lambda convs, **_: [Generation("12\n3", -1.0, 4) for _ in convs], tmp_path,
                       SETTINGS, progress=False)
    assert summary["unparseable_candidates"] == 1.0 and summary["unanswered"] == 1.0 and summary["score"] == 0.0


def test_resume_after_interrupt(tmp_path, tasks):
    oracle = Oracle(tasks)

    def flaky(conversations, **_):
        if oracle.calls == 1:
            raise KeyboardInterrupt
        return oracle(conversations)

    with pytest.raises(KeyboardInterrupt):
        evaluate(_cfg(2), tasks, flaky, tmp_path, SETTINGS, batch_tasks=3, progress=False)
    assert len((tmp_path / "per_task.jsonl").read_text().splitlines()) == 3  # first window kept
    calls = oracle.calls
    summary = evaluate(_cfg(2), tasks, oracle, tmp_path, SETTINGS, batch_tasks=3, progress=False)
    assert oracle.calls == calls + 1 and summary["score"] == 1.0 and summary["n_tasks"] == 6
    with pytest.raises(Exception, match="different run"):
        evaluate(_cfg(3), tasks, oracle, tmp_path, SETTINGS, progress=False)
