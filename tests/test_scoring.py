"""The official ARC rule, by hand-computed cases."""

from evalkit.scoring import score_submission, summarize, task_record
from evalkit.selection import Option, fill_attempts, options, rank

A, B, C = [[1, 2], [3, 4]], [[0]], [[5, 5, 5]]


def test_task_with_several_outputs():
    # task 1: two outputs, first solved by attempt 2, second unsolved -> 0.5; task 2: one output solved -> 1.0
    r1 = task_record("t1", [[B, A], [B, B]], [A, C])
    r2 = task_record("t2", [[C]], [C])
    s = summarize([r1, r2])
    assert r1["score"] == 0.5 and r2["score"] == 1.0
    assert s["score"] == 0.75                 # mean over tasks
    assert s["output_accuracy"] == 2 / 3      # solved outputs / outputs
    assert s["n_tasks"] == 2 and s["n_outputs"] == 3 and s["tasks_solved"] == 1
    assert s["pass_at_1"] == 1 / 3            # only t2's first attempt is right


def test_wrong_shape_and_cells():
    r = task_record("t", [[[[1, 2], [3, 0]]]], [A])
    assert r["score"] == 0.0
    assert r["outputs"][0]["shape_ok"] and r["outputs"][0]["cell_accuracy"] == 0.75
    r = task_record("t", [[[[1, 2, 3]]]], [A])
    assert not r["outputs"][0]["shape_ok"] and r["outputs"][0]["cell_accuracy"] is None


def test_missing_attempts_score_zero_and_oracle():
    r = task_record("t", [], [A])
    assert r["score"] == 0 and not r["outputs"][0]["answered"]
    r = task_record("t", [[B, B]], [A], candidates=[[B, A, None]])
    s = summarize([r])
    assert s["score"] == 0 and s["oracle_pass_at_n"] == 1.0


def test_submission_scoring():
    solutions = {"t1": [A, C], "t2": [C], "t3": [B]}
    predictions = {"t1": [{"attempt_1": B, "attempt_2": A}, {"attempt_1": C, "attempt_2": B}],
                   "t2": [{"attempt_1": "garbage", "attempt_2": C}], "extra": []}
    summary, problems = score_submission(predictions, solutions)
    assert summary["score"] == (1.0 + 1.0 + 0.0) / 3
    assert summary["output_accuracy"] == 3 / 4
    assert any("t3: missing" in p for p in problems)
    assert any("t2[0].attempt_1: not a grid" in p for p in problems)
    assert any("extra: not in solutions" in p for p in problems)
    summary, problems = score_submission([1, 2], solutions)
    assert summary["score"] == 0 and problems


def _cands(*pairs):
    return [{"test_index": 0, "grid": g, "mean_logprob": lp} for g, lp in pairs]


def test_vote_counts_then_generation_logprob():
    pool = options(_cands((A, -1.0), (B, -0.1), (A, -2.0), (C, -0.5), (None, 0.0)), 0)
    assert [(o.grid, o.votes, o.mean_logprob) for o in pool] == [(A, 2, -1.5), (B, 1, -0.1), (C, 1, -0.5)]
    assert rank(pool, "vote") == [A, B, C]    # A twice; B beats C on log-prob
    assert rank(options(_cands((None, 0.0)), 0), "vote") == []


def test_likelihood_ranks_by_summed_loglik_then_votes():
    pool = [Option(A, 3, -0.1, loglik=-9.0), Option(B, 1, -0.5, loglik=-2.0), Option(C, 1, -0.2, loglik=-2.0)]
    assert rank(pool, "likelihood") == [C, B, A]  # B and C tie on likelihood and votes: generation log-prob decides
    pool[1].votes = 2
    assert rank(pool, "likelihood") == [B, C, A]  # the tie goes to more votes
    assert rank(pool, "vote") == [A, B, C]


def test_two_attempts_always_with_fallbacks():
    assert fill_attempts([A, B, C], C) == [A, B]
    assert fill_attempts([A], C) == [A, C]            # the test input fills the second place
    assert fill_attempts([], C) == [C, [[0]]]
    assert fill_attempts([[[0]]], [[0]]) == [[[0]], [[1]]]


def test_only_two_attempts_count():
    r = task_record("t", [[B, C, A]], [A])           # a third attempt never counts
    assert r["score"] == 0.0
    predictions = {"t": [{"attempt_1": B, "attempt_2": C, "attempt_3": A}], "u": [{"attempt_10": A, "attempt_2": A}]}
    summary, problems = score_submission(predictions, {"t": [A], "u": [A]})
    assert summary["score"] == 0.5                   # u is solved by attempt_2; attempt_10 is ignored, not sorted in
    assert "t[0].attempt_3: not attempt_1 or attempt_2 (at most two attempts count; ignored)" in problems
    assert any(p.startswith("u[0].attempt_10: not attempt_1 or attempt_2") for p in problems)


def test_fallback_is_not_the_models_answer():
    r = task_record("t", [[C, [[0]]]], [C], answers=[None])  # no candidate: the test input C fills attempt 1
    out = r["outputs"][0]
    assert r["score"] == 1.0 and out["solved"] and not out["answered"] and not out["shape_ok"]
