"""``source=url``: download once into a cache, verify the sha256, reuse afterwards; a local
copy (``data.path``), checked the same way, replaces the download offline.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from gptlab.corpus.config import CorpusConfig
from gptlab.corpus.corpus import Corpus
from gptlab.corpus.file_source import read_text_file
from gptlab.errors import DataError
from gptlab.io.atomic import atomic_path
from gptlab.io.hashing import byte_bar, sha256_file

_CHUNK = 1 << 16


def load_url(cfg: CorpusConfig, progress: bool = True) -> Corpus:
    assert cfg.url is not None  # CorpusConfig guarantees it for source=url
    if cfg.path:
        local = verified_local_copy(Path(cfg.path), cfg.url, cfg.sha256)
        return Corpus(text=read_text_file(local), documents=(cfg.url,), source=f"{cfg.url} (local copy {cfg.path})")
    cached = cached_download(cfg.url, Path(cfg.cache_dir), cfg.sha256, cfg.timeout_s, progress)
    return Corpus(text=read_text_file(cached), documents=(cfg.url,), source=cfg.url)


def verified_local_copy(path: Path, url: str, sha256: str | None) -> Path:
    if not path.is_file():
        raise DataError(f"local copy of {url} not found: {path}")
    if sha256 is not None:
        actual = sha256_file(path)
        if actual != sha256.lower():
            raise DataError(f"local copy {path} of {url} has sha256 {actual}, expected {sha256.lower()}")
    return path


def cache_name(url: str, sha256: str | None) -> str:
    """The cache file name: the expected digest (else a hash of the URL), then the URL's last
    path segment so a person can tell files apart."""
    key = sha256.lower() if sha256 else "url-" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    base = Path(urllib.parse.urlparse(url).path).name
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base)[:64]
    return f"{key}-{base}" if base else key


def cached_download(url: str, cache_dir: Path, sha256: str | None, timeout_s: float, progress: bool) -> Path:
    """The cached file for ``url``, downloaded first if needed; without ``sha256`` a cached
    file is trusted (delete it to fetch again)."""
    dest = cache_dir / cache_name(url, sha256)
    if dest.is_file():
        if sha256 is None or sha256_file(dest) == sha256.lower():
            return dest
        # Changed since it was verified (edited by hand, disk trouble): fetch it again.
        dest.unlink()
    download(url, dest, sha256, timeout_s, progress)
    return dest


def download(url: str, dest: Path, sha256: str | None, timeout_s: float, progress: bool) -> None:
    """Stream ``url`` into ``dest`` atomically; on any failure nothing is left behind."""
    with atomic_path(dest) as tmp:
        actual = _stream_to_file(url, tmp, timeout_s, progress)
        if sha256 is not None and actual != sha256.lower():
            raise DataError(
                f"checksum mismatch for {url}: expected sha256 {sha256.lower()}, got {actual}; "
                "the download was not kept"
            )


def _stream_to_file(url: str, out_path: Path, timeout_s: float, progress: bool) -> str:
    """Write the response body to ``out_path``; returns its sha256, computed on the way."""
    digest = hashlib.sha256()
    try:
        response = urllib.request.urlopen(url, timeout=timeout_s)  # noqa: S310 (URL is user config)
    except ValueError as e:  # malformed URL, e.g. no scheme
        raise DataError(f"cannot download {url}: {e}") from None
    except urllib.error.HTTPError as e:
        raise DataError(f"cannot download {url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise DataError(f"cannot download {url}: {_reason(e.reason, timeout_s)}") from None
    except OSError as e:  # a timeout or reset before the headers arrive
        raise DataError(f"cannot download {url}: {_reason(e, timeout_s)}") from None
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    bar = byte_bar(total, Path(urllib.parse.urlparse(url).path).name or url, disable=not progress or total is None)
    try:
        with response, bar, open(out_path, "wb") as out:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                bar.update(len(chunk))
    except (OSError, http.client.HTTPException) as e:  # connection dropped or timed out mid-body
        raise DataError(f"cannot download {url}: {_reason(e, timeout_s)}") from None
    return digest.hexdigest()


def _reason(error: object, timeout_s: float) -> str:
    if isinstance(error, TimeoutError):
        return f"timed out after {timeout_s:g} s"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)
