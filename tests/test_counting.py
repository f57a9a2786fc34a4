"""Count-priors data: every answer agrees with scipy's labeller; deterministic; wired into the data spec."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from scipy import ndimage

from arccommon.errors import UserError
from arcprep.count_build import build_count_dataset
from arcprep.counting import CountConfig, answers, count_sample, label_objects
from arcprep.spec import build_any, is_up_to_date, load_spec

FOUR = ndimage.generate_binary_structure(2, 1)  # edge-connectivity, the stated object definition


def scipy_objects(grid: list[list[int]], background: int) -> list[tuple[int, int]]:
    """(colour, area) of every object, labelled independently colour by colour by scipy."""
    arr = np.array(grid)
    out = []
    for colour in range(10):
        if colour == background:
            continue
        labels, n = ndimage.label(arr == colour, structure=FOUR)
        out += [(colour, int((labels == k).sum())) for k in range(1, n + 1)]
    return sorted(out)


def test_every_answer_matches_scipy() -> None:
    cfg = CountConfig(samples=400, seed=3)
    for i in range(cfg.samples):
        s = count_sample(cfg, i)
        truth = scipy_objects(s["grid"], s["background"])
        assert sorted(label_objects(s["grid"], s["background"])) == truth
        areas = sorted(a for _, a in truth)
        turns = s["messages"][1:]
        assert [m["role"] for m in turns] == ["user", "assistant"] * (len(turns) // 2)
        for q, a in zip(turns[::2], turns[1::2]):
            text = q["content"]
            if "objects of colour" in text:
                colour = int(text.split("objects of colour ")[1].split()[0])
                assert a["content"] == str(sum(1 for c, _ in truth if c == colour))
            elif "How many objects" in text:
                assert a["content"] == str(len(truth))
            elif "largest" in text:
                assert a["content"] == str(areas[-1])
            elif "smallest" in text:
                assert a["content"] == str(areas[0])
            else:
                assert a["content"] == " ".join(map(str, areas))


def test_diagonal_contact_is_two_objects() -> None:
    grid = [[1, 0], [0, 1]]
    assert label_objects(grid, 0) == [(1, 1), (1, 1)]
    assert answers(grid, 0, "count") == "2"
    assert answers([[1, 2], [0, 0]], 0, "areas") == "1 1"  # different colours never join
    assert answers([[3, 3], [3, 5]], 3, "count") == "1"     # background 3: only the 5 is an object


def test_distribution_is_varied() -> None:
    cfg = CountConfig(samples=600, seed=0)
    samples = [count_sample(cfg, i) for i in range(cfg.samples)]
    backgrounds = Counter(s["background"] == 0 for s in samples)
    assert 0.7 < backgrounds[True] / len(samples) < 0.9
    rows = Counter(len(s["grid"]) for s in samples)
    assert rows[3] > rows[7] > rows[12] > 0  # more small grids than large ones
    n_objects = Counter(len(s["objects"]) for s in samples)
    assert len(n_objects) >= 6 and min(n_objects) >= 1
    assert len({a for s in samples for _, a in s["objects"]}) >= 8


def test_build_is_byte_identical_and_spec_driven(tmp_path, model_dir) -> None:
    spec = tmp_path / "spec.yml"
    spec.write_text(f"defaults: {{seed: 1, tokenizer: {model_dir}, max_tokens: 1024}}\n"
                    "datasets:\n  cp: {kind: count_priors, samples: 50}\n")
    cfg = load_spec(spec)["cp"]
    assert isinstance(cfg, CountConfig) and cfg.seed == 1
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    manifest = build_any(cfg, a, progress=False)
    build_count_dataset(cfg, b, progress=False)
    assert a.read_bytes() == b.read_bytes()
    assert is_up_to_date(cfg, a)
    assert manifest["samples"] == 50 and manifest["tokens"]["max"] <= 1024
    record = json.loads(a.read_text().splitlines()[0])
    assert record["messages"][0]["role"] == "system" and record["n_tokens"] > 0


def test_bad_spec_entries_are_one_line_errors(tmp_path) -> None:
    spec = tmp_path / "spec.yml"
    spec.write_text("datasets:\n  cp: {kind: count_priors, colours: 3}\n")
    with pytest.raises(UserError, match="cp: unknown key"):
        load_spec(spec)
    spec.write_text("datasets:\n  cp: {kind: shapes}\n")
    with pytest.raises(UserError, match="unknown kind 'shapes'"):
        load_spec(spec)
    with pytest.raises(UserError, match="unknown count question"):
        CountConfig(questions=["perimeter"]).check()
