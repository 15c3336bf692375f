"""Typed settings of the ``export`` stage (``export:`` in conf/config.yaml)."""

from __future__ import annotations

from dataclasses import dataclass

from gptlab.errors import ConfigError


@dataclass(frozen=True)
class ExportConfig:
    """Which gptlab model directory to export, and where the Hugging Face one goes (conf/ owns the defaults)."""

    model_dir: str
    out_dir: str

    def __post_init__(self) -> None:
        for name in ("model_dir", "out_dir"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"export.{name} must be a directory path, got {value!r}")
        if self.model_dir.rstrip("/") == self.out_dir.rstrip("/"):
            raise ConfigError(f"export.out_dir must differ from export.model_dir ({self.model_dir})")
