"""Loss, perplexity, bits per token and bits per character from the totals."""

from __future__ import annotations

import math

import pytest

from gptlab.evaluation import SplitMetrics, scored_characters
from gptlab.tokenizer import train_tokenizer
from tests.helpers import tokenizer_config


def test_metrics_from_totals():
    # 50 tokens at ln(4) nats each = 2 bits each = 100 bits over 200 characters.
    m = SplitMetrics.from_totals(nll=50 * math.log(4), tokens=50, characters=200)
    assert m.loss == pytest.approx(math.log(4))
    assert m.perplexity == pytest.approx(4.0)
    assert m.bits_per_token == pytest.approx(2.0)
    assert m.bits_per_char == pytest.approx(0.5)
    assert (m.tokens, m.characters) == (50, 200)
    assert set(m.to_dict()) == {"loss", "perplexity", "bits_per_token", "bits_per_char", "tokens", "characters"}


def test_bits_per_char_is_bits_per_token_times_tokens_per_char():
    m = SplitMetrics.from_totals(nll=123.4, tokens=40, characters=97)
    assert m.bits_per_char == pytest.approx(m.bits_per_token * 40 / 97)


def test_huge_loss_gives_infinite_perplexity_not_an_overflow():
    assert SplitMetrics.from_totals(nll=1e6, tokens=1, characters=1).perplexity == math.inf


def test_nothing_scored_is_refused():
    with pytest.raises(ValueError):
        SplitMetrics.from_totals(nll=0.0, tokens=0, characters=0)


TEXT = "the cat sat on the mat. the cat sat on the hat.\n" * 20


def test_char_tokenizer_first_token_is_one_character():
    tok = train_tokenizer(tokenizer_config("char"), TEXT)
    ids = tok.encode(TEXT[:30])
    assert scored_characters(tok, ids, 30) == 29


def test_bpe_first_token_takes_its_decoded_length():
    tok = train_tokenizer(tokenizer_config("bpe", vocab_size=300, min_frequency=1), TEXT)
    ids = tok.encode(TEXT[:30])
    first = tok.decode(ids[:1])
    assert len(first) > 1  # a merged token, so this checks more than the char case
    assert scored_characters(tok, ids, 30) == 30 - len(first)
    assert tok.decode(ids[1:]) == TEXT[len(first) : 30]  # exactly the text the scored tokens cover


def test_fewer_than_two_tokens_cover_no_scored_characters():
    tok = train_tokenizer(tokenizer_config("char"), TEXT)
    assert scored_characters(tok, tok.encode("t"), 1) == 0
