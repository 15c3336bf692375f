"""Errors a user can cause and fix: the CLIs print them as one line and exit non-zero; bugs
are not GptlabErrors and keep their traceback.
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
    """The OS refused to store a file (disk full, quota, too large); the previous one is
    intact. Exit codes follow ``sysexits.h``: 74 ``EX_IOERR``, 77 ``EX_NOPERM``."""

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
    """The MLflow server refused the login (``MLFLOW_TRACKING_USERNAME``/``_PASSWORD``) or the
    permission: 77 (``EX_NOPERM``), so scripts tell it from an unreachable server (2)."""

    exit_code = 77
