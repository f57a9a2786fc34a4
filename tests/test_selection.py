"""Selection of two attempts: teacher-forced likelihoods computed by hand on a tiny model, likelihood vs vote on
the same candidates, valid submissions for a hidden test set, and the evalkit rules around them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from arcprep.encoding import encode_grid, max_answer_tokens
from arcprep.sources import load_source
from evalkit.generate import Generation, allowed_token_ids
from evalkit.run import EvalConfig, evaluate
from evalkit.scoring import ATTEMPT_KEYS
from recipes.record import PromptSettings
from tests.conftest import ROOT
from tests.tiny_models import build_tiny

SETTINGS = PromptSettings()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = build_tiny("llama", tmp_path_factory.mktemp("tiny") / "llama")
    return AutoModelForCausalLM.from_pretrained(base).eval(), AutoTokenizer.from_pretrained(base)


def _by_hand(model, tok, prompt: str, answer: str) -> float:
    """Token by token, one forward pass per prefix, no padding, no cache: log p over the grid tokens."""
    allowed = allowed_token_ids(tok)
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    total = 0.0
    for token in tok(answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]:
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
        logp = torch.log_softmax(logits[allowed], dim=-1)
        total += float(logp[allowed.index(token)])
        ids.append(token)
    return total


def test_likelihoods_match_a_hand_computation(tiny):
    from evalkit.likelihood import answer_logliks

    model, tok = tiny
    conv = [[{"role": "user", "content": "1 2\n3 4"}], [{"role": "user", "content": "5 5 5 5 5 5 5\n0"}]]
    prompts = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
    prompts, answers = [prompts[0], prompts[1], prompts[0]], ["12\n34", "7", "1"]
    expected = [_by_hand(model, tok, p, a) for p, a in zip(prompts, answers)]
    got = answer_logliks(model, tok, prompts, answers)  # prompt 0 twice: its cache serves both answers
    assert got == pytest.approx(expected, abs=2e-4), (got, expected)


def test_likelihood_ranking_of_a_real_task_matches_the_hand_computation(tiny):
    """Two candidates of a real task under two views, scored through HFPredictor and evalkit's selection code,
    rank exactly as sums of hand-computed likelihoods over the views do."""
    from evalkit.hf_predictor import HFPredictor
    from evalkit.predict import work_items
    from evalkit.run import _score_options
    from evalkit.selection import Option, rank

    model, tok = tiny
    task = min(load_source("train").tasks, key=lambda t: sum(len(g) * len(g[0]) for p in t.train + t.test
                                                              for g in (p.input, p.output)))
    views = work_items(task, 2, 0, SETTINGS)
    right = task.test[0].output
    wrong = [[(c + 3) % 10 for c in row] for row in right]
    pool = [Option(wrong, 1, -0.1), Option(right, 1, -0.2)]
    _score_options([(views, [pool])], HFPredictor(model, tok, batch_size=2).loglik, "plain")
    by_hand = {}
    for option in pool:
        by_hand[option.key] = sum(_by_hand(model, tok, tok.apply_chat_template(v.messages, tokenize=False,
                                                                              add_generation_prompt=True),
                                           encode_grid(v.augmentation.apply_grid(option.grid))) for v in views)
        assert option.loglik == pytest.approx(by_hand[option.key], abs=1e-3)
    expected = sorted(pool, key=lambda o: -by_hand[o.key])
    assert rank(pool, "likelihood") == [o.grid for o in expected]


class Scorer:
    """A fake likelihood that prefers the right answer (in any view's frame) and records what it scored."""

    def __init__(self, right_texts: set[str]):
        self.right_texts, self.scored = right_texts, []

    def __call__(self, pairs):
        self.scored += pairs
        return [-1.0 if answer in self.right_texts else -5.0 for _, answer in pairs]


def test_likelihood_beats_vote_on_the_same_candidates(tmp_path):
    task = next(t for t in load_source("train").tasks if len(t.test) == 1)
    right = task.test[0].output
    wrong = [[(c + 1) % 10 for c in row] for row in right]
    # views are augmented: each view answers in its own frame, so all views revert to the same two grids;
    # the first view says RIGHT, the other three WRONG (vote picks WRONG), the likelihood prefers RIGHT
    from evalkit.predict import work_items

    views = work_items(task, 4, 0, SETTINGS)
    scorer = Scorer({encode_grid(v.augmentation.apply_grid(right)) for v in views})

    def generate(conversations, **_):
        out = []
        for i, messages in enumerate(conversations):
            view = next(v for v in views if v.messages == messages)
            grid = right if i == 0 else wrong
            out.append(Generation(encode_grid(view.augmentation.apply_grid(grid)), -0.5, 4))
        return out

    cfg = EvalConfig("train", None, "fake", select="likelihood", augmentations=4, max_new_tokens=max_answer_tokens(),
                     system_prompt=SETTINGS.system_prompt)
    summary = evaluate(cfg, [task], generate, tmp_path, SETTINGS, progress=False, scorer=scorer)
    assert summary["selection"]["vote"]["pass_at_1"] == 0.0 and summary["selection"]["vote"]["pass_at_2"] == 1.0
    assert summary["selection"]["likelihood"]["pass_at_1"] == 1.0
    assert summary["oracle_pass_at_n"] == 1.0 and summary["pass_at_1"] == 1.0  # the chosen mode: likelihood
    assert len(scorer.scored) == 2 * 4  # two distinct candidates, each scored under all four views
    record = json.loads((tmp_path / "per_task.jsonl").read_text())
    assert record["attempts_by_mode"]["vote"][0] == [wrong, right]
    assert record["attempts_by_mode"]["likelihood"][0] == [right, wrong]
    with pytest.raises(Exception, match="needs a model to score"):
        evaluate(cfg, [task], generate, tmp_path / "x", SETTINGS, progress=False)


def test_score_views_judge_under_more_views_than_generated(tmp_path):
    """--score-views 4 with 2 generated views: the 2 are the first 2 of the 4, and every option is scored under all 4."""
    from evalkit.predict import work_items

    task = next(t for t in load_source("train").tasks if len(t.test) == 1)
    right = task.test[0].output
    wrong = [[(c + 1) % 10 for c in row] for row in right]
    four = work_items(task, 4, 0, SETTINGS)
    assert [v.messages for v in work_items(task, 2, 0, SETTINGS)] == [v.messages for v in four[:2]]
    scorer = Scorer({encode_grid(v.augmentation.apply_grid(right)) for v in four})

    def generate(conversations, **_):
        views = [next(v for v in four if v.messages == m) for m in conversations]
        return [Generation(encode_grid(v.augmentation.apply_grid(g)), -0.5, 4) for v, g in zip(views, [wrong, right])]

    cfg = EvalConfig("train", None, "fake", select="likelihood", augmentations=2, max_new_tokens=max_answer_tokens(),
                     system_prompt=SETTINGS.system_prompt, score_views=4)
    evaluate(cfg, [task], generate, tmp_path, SETTINGS, progress=False, scorer=scorer)
    assert len(scorer.scored) == 2 * 4
    assert {m[-1]["content"] for m, _ in scorer.scored} == {v.messages[-1]["content"] for v in four}
    record = json.loads((tmp_path / "per_task.jsonl").read_text())
    assert record["attempts_by_mode"]["likelihood"][0] == [right, wrong]


def test_a_run_json_older_than_the_sampling_keys_still_resumes(tmp_path):
    from dataclasses import asdict

    from evalkit.run import NEWER_KEYS, _check_same_run

    cfg = EvalConfig("train", None, "fake", max_new_tokens=max_answer_tokens())
    old = {k: v for k, v in asdict(cfg).items() if k not in NEWER_KEYS}
    (tmp_path / "run.json").write_text(json.dumps(old))
    _check_same_run(tmp_path, cfg)  # the defaults they had
    with pytest.raises(Exception, match="different run"):
        _check_same_run(tmp_path, EvalConfig("train", None, "fake", max_new_tokens=max_answer_tokens(),
                                             dfs_threshold=0.1, dfs_max=4))


def test_predictions_are_a_valid_submission_for_a_hidden_test_set(tmp_path):
    tasks = load_source("eval").tasks[:5]
    challenges = {t.id: {"train": [p.to_json() for p in t.train], "test": [{"input": p.input} for p in t.test]}
                  for t in tasks}
    path = tmp_path / "arc-agi_test_challenges.json"  # no solutions file beside it
    path.write_text(json.dumps(challenges))
    hidden = load_source(str(path)).tasks
    assert all(p.output is None for t in hidden for p in t.test)

    def sometimes(conversations, **_):  # unparseable, cut off, or one grid
        kinds = [Generation("1 2\n3", -1.0, 3), Generation("12\n34", -1.0, 5, finished=False),
                 Generation("7", -0.3, 2)]
        return [kinds[i % 3] for i in range(len(conversations))]

    cfg = EvalConfig(str(path), None, "fake", augmentations=2, max_new_tokens=max_answer_tokens(),
                     system_prompt=SETTINGS.system_prompt)
    summary = evaluate(cfg, hidden, sometimes, tmp_path / "out", SETTINGS, progress=False)
    assert summary["score"] is None
    predictions = json.loads((tmp_path / "out" / "predictions.json").read_text())
    # the ARC Prize submission format: every task, one entry per test input, exactly attempt_1 and attempt_2, grids
    assert set(predictions) == set(challenges)
    for tid, entries in predictions.items():
        assert isinstance(entries, list) and len(entries) == len(challenges[tid]["test"])
        for entry in entries:
            assert sorted(entry) == list(ATTEMPT_KEYS)
            for grid in entry.values():
                assert isinstance(grid, list) and grid and all(
                    isinstance(row, list) and len(row) == len(grid[0]) and all(type(c) is int and 0 <= c <= 9
                                                                                for c in row) for row in grid)
    from evalkit.report import write_report

    page = write_report(tmp_path / "out", hidden).read_text()
    assert "attempt 2 (fallback)" in page  # the report tells fallbacks from the model's answers


def _evalkit(*args):
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


def test_stop_past_truth_is_refused_with_several_views():
    res = _evalkit("--base", "x", "--split", "train", "--augmentations", "2", "--stop-past-truth")
    assert res.returncode == 2 and "--stop-past-truth" in res.stderr and "Traceback" not in res.stderr


def test_score_views_below_the_generated_views_is_one_line():
    res = _evalkit("--base", "x", "--split", "train", "--augmentations", "4", "--score-views", "2")
    assert res.returncode == 2 and "--score-views 2" in res.stderr and "Traceback" not in res.stderr


def test_adapter_folder_resolves_to_its_single_final_adapter(tmp_path):
    from arccommon.errors import UserError
    from evalkit.model import find_adapter

    out = tmp_path / "out"
    for sub in ("run1", "run1/checkpoint-2", "run1/checkpoint-4"):
        (out / sub).mkdir(parents=True)
        (out / sub / "adapter_config.json").write_text("{}")
    assert find_adapter(out) == out / "run1" and find_adapter(out / "run1") == out / "run1"
    (out / "run2").mkdir()
    (out / "run2" / "adapter_config.json").write_text("{}")
    with pytest.raises(UserError, match=r"holds 2 adapters.*run1, .*run2$"):
        find_adapter(out)
    only_checkpoints = tmp_path / "ckpt"
    (only_checkpoints / "checkpoint-1").mkdir(parents=True)
    (only_checkpoints / "checkpoint-1" / "adapter_config.json").write_text("{}")
    with pytest.raises(UserError, match="holds 1 adapters, not one final adapter"):
        find_adapter(only_checkpoints)


def test_device_auto(monkeypatch):
    from arccommon.precision import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu" and resolve_device("cuda:1") == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
