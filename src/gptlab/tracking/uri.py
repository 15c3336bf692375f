"""The one rule for MLflow tracking URIs: anchoring, absolute SQLite paths, redaction.

Every entry point (train, evaluate, sample, compare, ui) passes the configured URI
through :func:`normalize_tracking_uri`, so all of them open the same store whatever
directory they run from.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

SQLITE = "sqlite:///"


def redact_uri(uri: str) -> str:
    """``http://user:secret@host`` -> ``http://***@host``: safe to print and log."""
    parts = urllib.parse.urlsplit(uri)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urllib.parse.urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))
    return uri


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """``http://user:secret@host/p`` -> ``("http://host/p", "user", "secret")``; other URIs
    (and http(s) URIs without a login) unchanged, with ``None, None``.

    Only for tracking servers: a database URI's login belongs to the database driver.
    """
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("http", "https") or not (parts.username or parts.password):
        return uri, None, None
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    bare = urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    unquote = urllib.parse.unquote
    return bare, unquote(parts.username or ""), unquote(parts.password) if parts.password is not None else None


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, None for other stores."""
    if urllib.parse.urlsplit(uri).scheme != "sqlite":
        return None
    return Path(uri[len(SQLITE) :]).expanduser() if uri.startswith(SQLITE) else None


def project_root(start: Path | None = None) -> Path:
    """Where a relative store path is anchored.

    ``$DVC_ROOT`` when DVC runs the stage (queued experiments run in a temporary copy of
    the repository, and a store there would be thrown away with it); else the nearest
    directory at or above ``start`` (the working directory) that holds ``.dvc/``, i.e.
    the repository a user is inside; else ``start`` itself.
    """
    root = os.environ.get("DVC_ROOT")
    if root:
        return Path(root).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / ".dvc").is_dir():
            return candidate
    return here


def normalize_tracking_uri(uri: str, start: Path | None = None) -> str:
    """A relative ``sqlite:///x.db`` -> ``sqlite:////<project root>/x.db``; others unchanged.

    Absolute also because MLflow keeps one database engine per URI string for the life
    of a process: a relative path would keep pointing at the first working directory.
    """
    uri = str(uri)
    if uri.startswith(SQLITE) and not uri.startswith(SQLITE + "/") and uri != SQLITE + ":memory:":
        relative = Path(uri[len(SQLITE) :]).expanduser()
        if not relative.is_absolute():  # `~/x.db` expands to an absolute path
            relative = project_root(start) / relative
        return SQLITE + str(relative.resolve())
    return uri
