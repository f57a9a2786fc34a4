"""Grid <-> text: exact round trips, strict parsing, one token per cell with SmolLM2's tokenizer."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arcprep.encoding import ENCODINGS, GridParseError, decode_grid, encode_grid, max_answer_chars
from arcprep.prompt import chat_messages
from arcprep.tasks import Pair

grids = st.integers(1, 30).flatmap(
    lambda h: st.integers(1, 30).flatmap(
        lambda w: st.lists(st.lists(st.integers(0, 9), min_size=w, max_size=w), min_size=h, max_size=h)))


@given(grids, st.sampled_from(sorted(ENCODINGS)))
def test_roundtrip(grid, encoding):
    assert decode_grid(encode_grid(grid, encoding), encoding) == grid


def test_plain_format():
    assert encode_grid([[1, 2], [3, 0]]) == "12\n30"
    assert encode_grid([[1, 2], [3, 0]], "shape") == "2x2\n12\n30"


def test_trailing_whitespace_allowed():
    assert decode_grid("12\n30\n") == [[1, 2], [3, 0]]


@pytest.mark.parametrize("text", ["", "\n", "12\n3", "1a\n30", "12\n\n30", " 12\n30", "1 2\n3 0", "-1\n22",
                                  "\n".join(["1" * 31] * 2)])
def test_plain_rejects(text):
    with pytest.raises(GridParseError):
        decode_grid(text)


@pytest.mark.parametrize("text", ["12\n30", "3x2\n12\n30", "2x3\n12\n30", "2 x 2\n12\n30"])
def test_shape_rejects(text):
    with pytest.raises(GridParseError):
        decode_grid(text, "shape")


def test_unknown_encoding():
    with pytest.raises(ValueError, match="unknown encoding"):
        encode_grid([[1]], "nope")


def test_max_answer_chars():
    assert max_answer_chars("plain") == 30 * 31 - 1


def test_chat_sample_shape():
    msgs = chat_messages([Pair([[1]], [[2]])], Pair([[3]], [[4]]))
    assert [m["role"] for m in msgs] == ["system", "user", "assistant"]
    assert msgs[2]["content"] == "4"
    assert msgs[1]["content"].endswith("Test\nInput:\n3\nOutput:")
    assert len(chat_messages([Pair([[1]], [[2]])], Pair([[3]]), with_answer=False)) == 2


def test_one_token_per_cell_and_newline(model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    grid = [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [9, 9, 9, 0, 0]]
    for encoding in ENCODINGS:
        text = encode_grid(grid, encoding)
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids) == text
    assert len(tok(encode_grid(grid), add_special_tokens=False)["input_ids"]) == 15 + 2
