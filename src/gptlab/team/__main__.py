"""The local team stack: ``python -m gptlab.team start|stop|env|remote [key=value ...]`` (docs/team.md).

The one tool whose first word is an action (Hydra has no subcommands, and ``action=start``
reads worse by hand); the rest are Hydra overrides of ``conf/team.yaml``.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from gptlab.cli.app import conf_dir, user_errors
from gptlab.config import to_dataclass
from gptlab.config.sections import plain
from gptlab.errors import ConfigError
from gptlab.team.settings import TeamConfig

ACTIONS = ("start", "stop", "env", "remote")
USAGE = f"usage: python -m gptlab.team {{{'|'.join(ACTIONS)}}} [key=value ...] (docs/team.md)"


def settings(cfg: Any) -> TeamConfig:
    keys = [f.name for f in dataclasses.fields(TeamConfig)]
    return to_dataclass(TeamConfig, {k: plain(cfg.get(k)) for k in keys}, "team")


def compose_team(overrides: list[str]) -> Any:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        return compose(config_name="team", overrides=overrides)


def run(action: str, cfg: Any) -> int:
    from gptlab.team import stack

    s = settings(cfg)
    if action == "start":
        started = stack.start(s)
        root = started.layout.root
        print(f"team stack up, data in {root} (logs: {started.layout.logs}):", flush=True)
        print(f"  MLflow      {s.tracking_uri}  logins: {', '.join(s.users)}; "
              f"artifacts proxied to s3://{s.artifacts_bucket}/artifacts")
        print(f"  S3          {s.s3_endpoint}  buckets: {s.artifacts_bucket}, {s.dvc_bucket}")
        print(f"  PostgreSQL  {s.host}:{s.postgres_port}")
        print("A teammate's environment (the password stays in the credentials file):")
        print(f"  export MLFLOW_TRACKING_URI={s.tracking_uri}")
        print(f"  export MLFLOW_TRACKING_USERNAME={s.user} MLFLOW_TRACKING_PASSWORD=...")
        print(f'  eval "$(python -m gptlab.team env user={s.user})"   sets all three, then: dvc exp run -S logger=team')
        print("  python -m gptlab.team remote                      in a clone: its DVC remote "
              "(keys in .dvc/config.local)")
        print("Stop: python -m gptlab.team stop", flush=True)
    elif action == "stop":
        stopped = stack.stop(s)
        print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running", flush=True)
    elif action == "env":
        sys.stdout.write(stack.shell_exports(stack.existing(s).env(s.user)))
    elif action == "remote":
        repo = Path.cwd()
        stack.configure_dvc_remote(stack.existing(s), repo)
        print(f"DVC remote {stack.DVC_REMOTE!r} = {s.dvc_remote_url} at {s.s3_endpoint} (the default remote; "
              "its keys in .dvc/config.local)", flush=True)  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    with user_errors():
        if not args or args[0] not in ACTIONS:
            raise ConfigError(USAGE)
        run(args[0], compose_team(args[1:]))


if __name__ == "__main__":
    main()
