from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gptlab.generation import CompletionText
from tests.generation.generation_fakes import ByteTokenizer, PieceTokenizer

FFFD = "\ufffd"


def stream(text: CompletionText, ids: list[int]) -> list[str]:
    pieces = []
    for i in ids:
        pieces.append(text.push(i))
        if text.stopped:
            break
    pieces.append(text.flush())
    return [p for p in pieces if p]


def test_multibyte_characters_are_never_shown_half_decoded() -> None:
    tok = ByteTokenizer()
    original = "héllo ☃ wörld 🙂!"
    text = CompletionText(tok.decode)
    pieces = stream(text, tok.encode(original))
    assert "".join(pieces) == text.text == original
    assert not any(FFFD in p for p in pieces)
    assert "☃" in pieces  # shown as soon as its third byte arrived


def test_an_incomplete_final_character_is_flushed_as_is() -> None:
    tok = ByteTokenizer()
    ids = tok.encode("ab☃")[:-1]  # cut inside the snowman
    text = CompletionText(tok.decode)
    pieces = stream(text, ids)
    assert pieces == ["a", "b", FFFD]
    assert text.text == "ab" + FFFD


def test_invalid_bytes_in_the_middle_are_shown_once_text_follows() -> None:
    tok = ByteTokenizer()
    text = CompletionText(tok.decode)
    pieces = stream(text, [ord("a"), 0xFF, ord("b")])
    assert "".join(pieces) == text.text == "a" + FFFD + "b"


def test_stop_string_cuts_the_text_and_is_never_shown() -> None:
    tok = PieceTokenizer(["a", "b", "\n", "c"])
    text = CompletionText(tok.decode, stop_strings=["\n\n"])
    ids = tok.encode("ab\n\ncab")
    pieces = stream(text, ids)
    assert text.stopped and text.text == "ab"
    assert "".join(pieces) == "ab"
    assert not any("\n" in p for p in pieces)


def test_a_partial_stop_string_is_held_back_then_released() -> None:
    tok = PieceTokenizer(["a", "b", "\n"])
    text = CompletionText(tok.decode, stop_strings=["\n\n"])
    assert text.push(0) == "a"
    assert text.push(2) == ""  # could be the start of "\n\n"
    assert text.push(1) == "\nb"
    assert not text.stopped


def test_earliest_stop_string_wins_even_inside_one_token() -> None:
    tok = PieceTokenizer(["xx", "ab END cd STOP", "END"])
    text = CompletionText(tok.decode, stop_strings=["STOP", "END"])
    pieces = stream(text, [0, 1, 2])
    assert text.text == "xxab " and pieces == ["xx", "ab "]


def test_push_after_stop_is_an_error() -> None:
    text = CompletionText(PieceTokenizer(["a", "!"]).decode, stop_strings=["!"])
    text.push(1)
    with pytest.raises(RuntimeError):
        text.push(0)


@given(
    ids=st.lists(st.integers(0, 5), max_size=30),
    stops=st.lists(st.sampled_from(["ab", "ba", "cc", "abc", "b\n", "\n\n", "c"]), max_size=3),
)
def test_pieces_always_concatenate_to_the_text_cut_at_the_first_stop(ids: list[int], stops: list[str]) -> None:
    tok = PieceTokenizer(["a", "b", "c", "\n", "ab", "bc\n"])
    text = CompletionText(tok.decode, stop_strings=stops)
    pieces = stream(text, ids)
    assert "".join(pieces) == text.text
    full = tok.decode(ids)
    hits = [i for s in stops if (i := full.find(s)) >= 0]
    assert text.text == (full[: min(hits)] if hits else full)
    assert text.stopped == bool(hits)
