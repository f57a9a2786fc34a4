"""The official ARC rule, by hand-computed cases."""

from evalkit.scoring import score_submission, summarize, task_record
from evalkit.voting import vote

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


def test_vote_counts_then_likelihood():
    cands = [(A, -1.0), (B, -0.1), (A, -2.0), (C, -0.5), (None, 0.0)]
    assert vote(cands, 2) == [A, B]           # A twice; B beats C on log-prob
    assert vote([(B, -3.0), (C, -0.2)], 1) == [C]
    assert vote([(None, 0.0)], 2) == []
