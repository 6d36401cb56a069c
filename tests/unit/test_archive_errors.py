"""`save -o` and `load` failing in words about the user's own file (issue 15, item 12): the
path they named, never the temporary file beside it; a cut-short archive called truncated,
not blamed on a layer."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bilge.cli import app

ARCHIVE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "docker" / "images.tar.gz"


def bilge(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bilge", "--root", str(root), *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not ARCHIVE.is_file():
        pytest.fail(f"{ARCHIVE} is missing: the shared fixtures must sit next to the repo", pytrace=False)
    root = tmp_path_factory.mktemp("errors") / "store"
    result = CliRunner().invoke(app, ["--root", str(root), "load", "-q", "-i", str(ARCHIVE)])
    assert result.exit_code == 0, result.output
    return root


def test_save_to_a_directory_names_it(root: Path, tmp_path: Path) -> None:
    proc = bilge(root, "save", "-o", str(tmp_path), "busybox")
    assert (proc.returncode, proc.stderr) == (
        1,
        f"Error: cannot write the archive to {tmp_path}: it is a directory (name a file in it)\n",
    )
    assert list(tmp_path.iterdir()) == []


def test_save_into_a_missing_directory_names_it(root: Path, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "dir" / "x.tar"
    proc = bilge(root, "save", "-o", str(target), "busybox")
    assert (proc.returncode, proc.stderr) == (
        1,
        f"Error: cannot write the archive to {target}: no such directory {target.parent}\n",
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only directory anyway")
def test_save_into_a_read_only_directory_names_the_file(root: Path, tmp_path: Path) -> None:
    tmp_path.chmod(0o555)
    proc = bilge(root, "save", "-o", str(tmp_path / "x.tar"), "busybox")
    assert proc.stderr == f"Error: cannot write the archive to {tmp_path / 'x.tar'}: Permission denied\n"


@pytest.fixture(scope="module")
def tar_bytes() -> bytes:
    return gzip.decompress(ARCHIVE.read_bytes())


@pytest.mark.parametrize("keep", [0.3, 0.7])
def test_a_cut_tar_is_truncated(tar_bytes: bytes, tmp_path: Path, keep: float) -> None:
    cut = tmp_path / "cut.tar"
    cut.write_bytes(tar_bytes[: int(len(tar_bytes) * keep)])
    proc = bilge(tmp_path / "store", "load", "-i", str(cut))
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: archive is truncated: it ends inside '"), proc.stderr
    assert proc.stderr.count("\n") == 1 and "middle of a file" not in proc.stderr


def test_a_cut_gzip_archive_is_truncated(tmp_path: Path) -> None:
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(ARCHIVE.read_bytes()[: ARCHIVE.stat().st_size // 2])
    proc = bilge(tmp_path / "store", "load", "-i", str(cut))
    assert (proc.returncode, proc.stderr) == (1, "Error: archive is truncated: its compressed stream ends early\n")
