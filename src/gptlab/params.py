"""Write ``params.yaml``: the composition of ``conf/`` that DVC tracks.

    python -m gptlab.params                      # the defaults (what is committed)
    python -m gptlab.params experiment=smoke     # what `dvc exp run -S experiment=smoke` writes
    python -m gptlab.params --out /tmp/p.yaml model=tiny

Composed as DVC composes it. ``--out`` is a flag, not an override: ``out=`` would land in it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gptlab.cli.app import conf_dir, user_errors
from gptlab.io import atomic_write_text


def compose_params(overrides: list[str] | None = None, config_dir: Path | None = None) -> str:
    """The YAML text of the composed, resolved config."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(str(config_dir or conf_dir()), version_base=None):
        cfg = compose(config_name="config", overrides=list(overrides or []))
    OmegaConf.resolve(cfg)
    return OmegaConf.to_yaml(cfg)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    out = Path("params.yaml")
    if args[:1] == ["--out"]:
        out, args = Path(args[1]), args[2:]
    with user_errors():
        atomic_write_text(out, compose_params(args))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
