"""Leave-one-out samples: made from demonstration pairs only, never from a test output."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from arcprep.augment import Augmentation
from arcprep.build import BuildConfig, build_dataset
from arcprep.encoding import decode_grid

grids = st.integers(1, 4).flatmap(lambda h: st.integers(1, 4).flatmap(
    lambda w: st.lists(st.lists(st.integers(0, 9), min_size=w, max_size=w), min_size=h, max_size=h)))
pairs = st.fixed_dictionaries({"input": grids, "output": grids})


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _assistant_grids(record: dict) -> list[list[list[int]]]:
    """Every assistant turn of a sample, reverted to the task's own frame."""
    aug = Augmentation.from_json(record["augmentation"])
    return [aug.invert_grid(decode_grid(m["content"])) for m in record["messages"] if m["role"] == "assistant"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(train=st.lists(pairs, min_size=2, max_size=5), test=st.lists(pairs, min_size=1, max_size=2),
       fmt=st.sampled_from(["single", "multiturn"]), copies=st.integers(1, 4))
def test_every_assistant_turn_is_a_demonstration_output_and_none_a_test_output(tmp_path_factory, train, test, fmt,
                                                                               copies):
    demo_outputs = [p["output"] for p in train]
    assume(not any(t["output"] in demo_outputs for t in test))
    folder = tmp_path_factory.mktemp("loo")
    (folder / "task.json").write_text(json.dumps({"train": train, "test": test}))
    out = folder / "loo.jsonl"
    manifest = build_dataset(BuildConfig(source=str(folder / "task.json"), leave_one_out=True, prompt_format=fmt,
                                         augment=["dihedral", "color", "swap", "shuffle"], copies=copies), out,
                             progress=False)
    records = _records(out)
    assert manifest["queries"] == len(train) and len(records) == len(train) * copies
    for record in records:
        answers = _assistant_grids(record)
        assert all(grid in demo_outputs for grid in answers)
        assert not any(t["output"] in answers for t in test)
        assert record["n_train"] == len(train) - 1
    # each demonstration pair is held out once per copy, and then it is the last answer
    for record in records:
        if record["copy"] == 0:
            assert _assistant_grids(record)[-1] == demo_outputs[record["held_out"]]


def test_works_on_a_challenges_file_without_solutions_and_skips_single_pair_tasks(tmp_path):
    challenges = {
        "aaaa0001": {"train": [{"input": [[1]], "output": [[2]]}, {"input": [[3]], "output": [[4]]},
                               {"input": [[5]], "output": [[6]]}], "test": [{"input": [[7]]}]},
        "aaaa0002": {"train": [{"input": [[1]], "output": [[1]]}], "test": [{"input": [[2]]}]},
    }
    path = tmp_path / "hidden_challenges.json"
    path.write_text(json.dumps(challenges))
    out = tmp_path / "ttt.jsonl"
    manifest = build_dataset(BuildConfig(source=str(path), leave_one_out=True, copies=2, augment=["dihedral"]), out,
                             progress=False)
    assert manifest["leave_one_out"] == {"skipped_single_pair_tasks": ["aaaa0002"]}
    assert manifest["samples"] == 6 and {r["task_id"] for r in _records(out)} == {"aaaa0001"}
    again = tmp_path / "again.jsonl"
    build_dataset(BuildConfig(source=str(path), leave_one_out=True, copies=2, augment=["dihedral"]), again,
                  progress=False)
    assert again.read_bytes() == out.read_bytes()
