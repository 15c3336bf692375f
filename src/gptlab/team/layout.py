"""Where the team stack keeps everything: one directory, one subdirectory per server."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from gptlab.errors import ConfigError
from gptlab.io import atomic_write_text


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def private(self) -> Path:
        """Credentials and the servers' secret config files (mode 0700)."""
        return self.root / "private"

    @property
    def postgres(self) -> Path:
        """PostgreSQL's own directory (its user owns it): the cluster and its log."""
        return self.root / "postgres"

    @property
    def postgres_data(self) -> Path:
        return self.postgres / "data"

    @property
    def postgres_log(self) -> Path:
        return self.postgres / "postgres.log"

    @property
    def s3_data(self) -> Path:
        return self.root / "s3"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    def make(self) -> None:
        """Create the directories. The root is 0711 (others may pass through, not list it),
        so that PostgreSQL's own user reaches its directory when the stack runs as root."""
        for path in (self.root, self.s3_data, self.logs):
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o711)
        self.private.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.private, 0o700)

    def read_state(self) -> dict:
        if not self.state_file.is_file():
            return {}
        try:
            return json.loads(self.state_file.read_text(encoding="utf-8"))
        except ValueError:
            return {}  # a state file cut short: the pids in it are checked before use anyway

    def write_state(self, state: dict) -> None:
        atomic_write_text(self.state_file, json.dumps(state, indent=1, sort_keys=True) + "\n")


def check_reachable_by_others(path: Path, who: str) -> None:
    """One line if a user other than the owner cannot pass through every directory above
    ``path`` (e.g. pytest's and ``mktemp -d``'s 0700 directories)."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            raise ConfigError(
                f"{who} cannot reach {path}: {parent} is mode {stat.S_IMODE(mode):04o} (others may not pass "
                "through it); put the team stack's dir= elsewhere, or chmod o+x that directory"
            )
