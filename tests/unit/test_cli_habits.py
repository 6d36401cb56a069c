"""The front door's habits a new user meets first (issue 15, item 10): help without arguments,
the version, shell completion, whole sentences in the command list, one suggestion for a typo,
and Docker's words for an upper-case name. Each runs `bilge` as a process, as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
VERSION = version("bilge")


def bilge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bilge", *args], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


@pytest.mark.parametrize("args", [[], ["image"], ["system"]])
def test_no_command_prints_help_and_succeeds(args: list[str]) -> None:
    proc = bilge(*args)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.startswith("Usage: bilge ") and "Commands:" in proc.stdout


def test_command_list_shows_whole_sentences() -> None:
    commands = bilge("--help").stdout.split("Commands:")[1]
    listing = " ".join(commands.split())  # wrapped lines joined
    assert "save Save images to a tar archive that docker load (any version) accepts." in listing
    assert "..." not in listing  # click's cut


def test_version() -> None:
    assert bilge("--version").stdout == f"bilge version {VERSION}\n"
    lines = bilge("version").stdout.splitlines()
    assert lines[0] == f"bilge version {VERSION}" and lines[1].startswith("Python 3.")


def test_a_typo_is_suggested_once() -> None:
    proc = bilge("tpo")
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == "Error: No such command 'tpo'. Did you mean 'top'?"


def test_uppercase_tag_says_why(tmp_path: Path) -> None:
    proc = bilge("--root", str(tmp_path / "store"), "tag", "busybox", "UPPER/Case")
    assert proc.returncode == 1
    assert proc.stderr == "Error: invalid reference format: repository name must be lowercase: 'UPPER/Case'\n"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_a_script(shell: str) -> None:
    script = bilge("completion", shell).stdout
    assert "_BILGE_COMPLETE=complete_" + shell in script


def test_completion_unknown_shell() -> None:
    proc = bilge("completion", "tcsh")
    assert (proc.returncode, proc.stderr) == (1, "Error: unknown shell 'tcsh' (choose from bash, zsh, fish)\n")


def test_bash_completes_commands_and_options() -> None:
    """The script, sourced by a real bash, completes a command and an option."""
    bash = shutil.which("bash")
    assert bash, "bash is in every image the suite runs in"
    script = (
        "source <(bilge completion bash)\n"
        "COMP_WORDS=(bilge ima); COMP_CWORD=1; _bilge_completion bilge; echo ${COMPREPLY[@]}\n"
        "COMP_WORDS=(bilge images --fo); COMP_CWORD=2; _bilge_completion bilge; echo ${COMPREPLY[@]}\n"
    )
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([bash, "-c", script], capture_output=True, text=True, env=env)
    assert proc.stdout.splitlines() == ["images image", "--format"], proc.stderr
