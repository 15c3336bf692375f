"""Shared training text for the tokenizer tests: small, but with the shapes real text has."""

from __future__ import annotations

import pytest

_PARAGRAPHS = (
    "The quick brown fox jumps over the lazy dog. ",
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n",
    "All:\nSpeak, speak.\n",
    "Numbers 0123456789 and symbols !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ appear too.\n",
    "Tabs\tand  double  spaces,   trailing spaces   \n",
    "Unicode: café, naïve, Straße, Ελληνικά, русский, 日本語, 🎉🚀.\n",
)


@pytest.fixture(scope="session")
def corpus() -> str:
    # About 6 KB: enough for BPE to learn a few dozen merges at min_frequency=2.
    return "".join(_PARAGRAPHS) * 12
