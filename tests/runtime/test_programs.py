"""Programs that gptlab starts are found in the running interpreter's environment first."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from gptlab.errors import MissingProgramError
from gptlab.runtime import programs

BIN = str(Path(sys.executable).parent)


def test_the_interpreter_directory_is_not_resolved_through_links():
    # A venv's bin/python links to the base interpreter, whose directory has none of the venv's programs.
    assert programs.interpreter_bin() == Path(sys.executable).parent


def test_child_path_puts_the_interpreter_directory_first_once():
    env = programs.child_env({"PATH": os.pathsep.join(["/usr/bin", BIN, "/bin"]), "OTHER": "1"})
    assert env["PATH"].split(os.pathsep) == [BIN, "/usr/bin", "/bin"]
    assert env["OTHER"] == "1"
    assert programs.child_env({})["PATH"] == BIN  # no PATH at all


def test_child_env_copies_this_process_environment(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin")
    monkeypatch.setenv("GPTLAB_PROBE", "x")
    env = programs.child_env()
    assert env["PATH"] == os.pathsep.join([BIN, "/usr/bin"]) and env["GPTLAB_PROBE"] == "x"
    assert os.environ["PATH"] == "/usr/bin"  # this process's own PATH is left alone


def test_a_program_of_this_environment_is_found_without_it_on_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # as when the environment is not activated
    assert programs.find_program(Path(sys.executable).name, "unused") == str(Path(sys.executable))


def test_a_missing_program_is_one_line_naming_it_and_how_to_install_it(tmp_path):
    with pytest.raises(MissingProgramError) as excinfo:
        programs.find_program("gptlab-no-such-program", programs.pip_install("gptlab-no-such-program"),
                              env={"PATH": str(tmp_path)})  # fmt: skip
    message = str(excinfo.value)
    assert message.startswith("gptlab-no-such-program is not installed")
    assert f"{sys.executable} -m pip install gptlab-no-such-program" in message and "\n" not in message
    assert excinfo.value.exit_code == 2
