"""The CLI edge: turn a composed Hydra config into the library's typed dataclasses."""

from gptlab.config.sections import PathsConfig, to_dataclass

__all__ = ["PathsConfig", "to_dataclass"]
