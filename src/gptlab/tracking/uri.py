"""The one rule for MLflow tracking URIs (anchoring, absolute SQLite paths, redaction): every
entry point opens the same store whatever directory it runs from."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

SQLITE = "sqlite:///"


def host_port(parts: urllib.parse.SplitResult) -> str:
    """``host[:port]`` of a split URL, without its login."""
    return f"{parts.hostname or ''}:{parts.port}" if parts.port else parts.hostname or ""


def redact_uri(uri: str) -> str:
    """``http://user:secret@host`` -> ``http://***@host``: safe to print and log."""
    parts = urllib.parse.urlsplit(uri)
    if parts.username or parts.password:
        login_free = (parts.scheme, f"***@{host_port(parts)}", parts.path, parts.query, parts.fragment)
        return urllib.parse.urlunsplit(login_free)
    return uri


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """``http://user:secret@host/p`` -> ``("http://host/p", "user", "secret")``; others unchanged, with
    ``None, None`` (a database URI's login belongs to the database driver)."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("http", "https") or not (parts.username or parts.password):
        return uri, None, None
    bare = urllib.parse.urlunsplit((parts.scheme, host_port(parts), parts.path, parts.query, parts.fragment))
    unquote = urllib.parse.unquote
    return bare, unquote(parts.username or ""), unquote(parts.password) if parts.password is not None else None


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, None for other stores."""
    if urllib.parse.urlsplit(uri).scheme != "sqlite":
        return None
    return Path(uri[len(SQLITE) :]).expanduser() if uri.startswith(SQLITE) else None


def project_root(start: Path | None = None) -> Path:
    """Where a relative store path is anchored: ``$DVC_ROOT`` when DVC runs the stage (a queued
    experiment's temporary copy would throw a store away), else the nearest directory at or above
    ``start`` (the working directory) holding ``.dvc/``, else ``start``."""
    root = os.environ.get("DVC_ROOT")
    if root:
        return Path(root).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / ".dvc").is_dir():
            return candidate
    return here


def normalize_tracking_uri(uri: str, start: Path | None = None) -> str:
    """A relative ``sqlite:///x.db`` -> ``sqlite:////<project root>/x.db``; others unchanged (MLflow keeps
    one engine per URI string per process: a relative one would stay on the first working directory)."""
    uri = str(uri)
    if uri.startswith(SQLITE) and not uri.startswith(SQLITE + "/") and uri != SQLITE + ":memory:":
        relative = Path(uri[len(SQLITE) :]).expanduser()
        if not relative.is_absolute():  # `~/x.db` expands to an absolute path
            relative = project_root(start) / relative
        return SQLITE + str(relative.resolve())
    return uri
