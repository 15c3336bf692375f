"""Errors a user can cause.

Every error here is something the user can fix (a bad path, an empty corpus, a bad
override). The stage CLIs catch :class:`GptlabError`, print its message on one line and
exit non-zero, so users never see a traceback for their own mistakes. Bugs in gptlab
itself are *not* GptlabErrors and keep their traceback.
"""

from __future__ import annotations


class GptlabError(Exception):
    """Base class for user-facing errors: the message must say what to do."""

    exit_code = 2


class ConfigError(GptlabError):
    """A configuration value is missing, unknown or out of range."""


class DataError(GptlabError):
    """The corpus or a dataset file is missing, empty, or malformed."""


class TokenizerError(GptlabError):
    """A tokenizer file is bad, or text cannot be encoded with it."""


class ModelConfigError(ConfigError):
    """An invalid combination of model hyper-parameters."""


class CheckpointError(GptlabError):
    """A checkpoint or model directory is missing, corrupt, or does not match."""


class TrainingDiverged(GptlabError):
    """The loss became NaN or infinite."""


class DeviceUnavailable(ConfigError):
    """The configured device (``cuda``, ``mps``, ``cuda:3``) is not available on this machine."""


class StoreError(ConfigError):
    """The MLflow store cannot be used: not a database, unreadable."""


class StorageError(GptlabError):
    """The operating system refused to store a file: disk full, quota, file too large,
    read-only filesystem, permission denied. The previous file, if any, is intact.

    Exit codes follow ``sysexits.h``: 74 (``EX_IOERR``) when space or size ran out,
    77 (``EX_NOPERM``) when writing is not allowed.
    """

    exit_code = 74


class StoragePermissionError(StorageError):
    """Writing there is not allowed (permission denied, read-only filesystem)."""

    exit_code = 77


class TrainingInterrupted(GptlabError):
    """Training was stopped by SIGTERM (a scheduler, ``kill``); ``last.ckpt`` was saved."""

    exit_code = 143  # 128 + SIGTERM, what a shell reports for a terminated process


class MissingProgramError(GptlabError):
    """A program gptlab starts (``uvicorn``, ``bash``, ``git``...) is not installed."""


class TrackingAuthError(ConfigError):
    """The MLflow tracking server refused the login (wrong or missing
    ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``) or the permission.

    Exit code 77 (``EX_NOPERM``), as for the filesystem's "permission denied": scripts
    tell it from a server that cannot be reached (2).
    """

    exit_code = 77
