"""One boundary for failures: corrupt or unreadable stores (defect 4), missing devices (defect 5),
operating-system refusals, the debug switch, and bugs that keep their traceback.

The stages run in this process, inside ``user_errors()`` as their CLIs run them
(``cli_exit_code``); one test runs a CLI in a subprocess."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch

from gptlab.cli.app import user_errors
from gptlab.errors import DeviceUnavailable, StoreError
from gptlab.runtime import resolve_device
from gptlab.tracking import TrackingStore
from tests.helpers import cli_exit_code, one_error_line
from tests.evaluation.pipeline_fixtures import pipeline_copy, trained_pipeline  # noqa: F401 - fixtures
from tests.faults.conftest import DATA, QUIET, SMOKE, assert_one_line_failure, cli, snapshot

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


# -- the tracking store


@pytest.mark.parametrize("content", [b"not a database\n", b"\x00" * 512, b"SQLite format 2\x00" + b"\x00" * 100])
def test_a_store_that_is_not_sqlite_is_one_line(tmp_path, content):
    db = tmp_path / "mlflow.db"
    db.write_bytes(content)
    for check in (lambda u: TrackingStore(u).check_usable(), lambda u: TrackingStore(u).check_exists("hint")):
        with pytest.raises(StoreError, match="is not an SQLite database") as info:
            check(f"sqlite:///{db}")
        assert f"mv {db} {db}.bad" in str(info.value)
    assert db.read_bytes() == content


def test_an_unreadable_store_is_one_line(tmp_path, monkeypatch):
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"SQLite format 3\x00")
    real_open = open

    def guarded(path, *args, **kwargs):
        if Path(path) == db:
            raise PermissionError(errno.EACCES, "Permission denied", str(db))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", guarded)
    with pytest.raises(StoreError, match="cannot read .*Permission denied"):
        TrackingStore(f"sqlite:///{db}").check_usable()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_store_file_is_one_line_for_real(tmp_path):
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"SQLite format 3\x00")
    db.chmod(0)
    with pytest.raises(StoreError, match="cannot read"):
        TrackingStore(f"sqlite:///{db}").check_usable()


def test_a_directory_in_place_of_the_store_is_one_line(tmp_path):
    (tmp_path / "mlflow.db").mkdir()
    with pytest.raises(StoreError, match="is a directory"):
        TrackingStore(f"sqlite:///{tmp_path / 'mlflow.db'}").check_usable()


def test_an_empty_store_file_is_fine(tmp_path):
    (tmp_path / "mlflow.db").touch()  # SQLite makes an empty file a database
    TrackingStore(f"sqlite:///{tmp_path / 'mlflow.db'}").check_usable()


def test_train_on_a_corrupt_store_is_one_line_and_touches_nothing(pipeline_copy: Path, capsys):
    """Defect 4: a 76-line SQLAlchemy traceback before."""
    db = pipeline_copy / "mlflow.db"
    db.write_bytes(b"this is not a database\n" * 10)
    before = snapshot(pipeline_copy, "artifacts", "reports", "mlflow.db")
    assert cli_exit_code("train", *SMOKE, f"logger.tracking_uri=sqlite:///{db}") == 2
    one_error_line(capsys.readouterr().err, "is not an SQLite database", str(db))
    assert snapshot(pipeline_copy, "artifacts", "reports", "mlflow.db") == before


# -- devices


@no_cuda
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_a_missing_device_is_one_line(device):
    with pytest.raises(DeviceUnavailable, match=f"device '{device}' is not available"):
        resolve_device(device)


def test_an_unknown_device_is_one_line():
    with pytest.raises(DeviceUnavailable, match="unknown device 'gpu0'"):
        resolve_device("gpu0")


@no_cuda
@pytest.mark.parametrize(
    ("module", "args", "config_name"),
    [
        ("evaluate", (*DATA, "logger=none", "evaluate.device=cuda"), "config"),
        ("sample", (*DATA, "logger=none", "sample.device=cuda"), "config"),
        ("generate", ("device=cuda", "max_new_tokens=5"), "generate"),
    ],
    ids=["evaluate", "sample", "generate"],
)
def test_stages_asked_for_a_missing_gpu_say_so_in_one_line(pipeline_copy: Path, capsys, module, args, config_name):
    """Defect 5: an AssertionError traceback (``Torch not compiled with CUDA enabled``) before."""
    before = snapshot(pipeline_copy, "reports")
    assert cli_exit_code(module, *args, config_name=config_name) == 2
    one_error_line(capsys.readouterr().err, "device 'cuda' is not available")
    assert snapshot(pipeline_copy, "reports") == before


@no_cuda
def test_cli_asked_for_a_missing_gpu_says_so_in_one_line(pipeline_copy: Path, fault_env):
    """The same through the sample CLI itself (argv, Hydra, the exit code of the process)."""
    before = snapshot(pipeline_copy, "reports")
    res = cli("sample", *DATA, "logger=none", "sample.device=cuda", *QUIET, cwd=pipeline_copy, env=fault_env)
    assert_one_line_failure(res, 2, "device 'cuda' is not available")
    assert snapshot(pipeline_copy, "reports") == before


@no_cuda
def test_the_debug_switch_shows_the_traceback_and_keeps_the_exit_code(pipeline_copy: Path, capsys, monkeypatch):
    monkeypatch.setenv("GPTLAB_DEBUG", "1")
    assert cli_exit_code("evaluate", *DATA, "logger=none", "evaluate.device=cuda") == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "DeviceUnavailable" in err
    assert err.rstrip().splitlines()[-1].startswith("error: device 'cuda' is not available")


# -- the boundary itself (in-process)


@pytest.mark.parametrize(
    ("code", "exit_code", "words"),
    [(errno.ENOSPC, 74, "no space left"), (errno.EDQUOT, 74, "quota"), (errno.EROFS, 77, "read-only"),
     (errno.EACCES, 77, "permission denied"), (errno.EFBIG, 74, "file too large")],  # fmt: skip
)
def test_operating_system_refusals_anywhere_are_one_line(capsys, code, exit_code, words):
    with pytest.raises(SystemExit) as info, user_errors():
        raise OSError(code, os.strerror(code), "/data/out/file.bin")
    assert info.value.code == exit_code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: cannot") and "/data/out/file.bin" in err and words in err


def test_a_bug_keeps_its_traceback():
    with pytest.raises(ZeroDivisionError), user_errors():
        1 / 0  # noqa: B018
    with pytest.raises(FileNotFoundError), user_errors():  # not a refusal to store: a bug or a missing check
        raise FileNotFoundError(errno.ENOENT, "No such file", "x")


def test_sqlalchemy_database_errors_that_get_through_are_one_line(capsys):
    import sqlalchemy.exc

    with pytest.raises(SystemExit) as info, user_errors():
        raise sqlalchemy.exc.DatabaseError("SELECT 1", {}, Exception("file is not a database"))
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("error: the MLflow store cannot be used: file is not a database")


def test_the_debug_switch_prints_the_traceback_first(capsys, monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(SystemExit) as info, user_errors():
        raise OSError(errno.ENOSPC, "No space left on device", "/x")
    assert info.value.code == 74
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().splitlines()[-1].startswith("error: cannot write /x")
