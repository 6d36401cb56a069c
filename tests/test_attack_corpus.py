"""The corpus: malformed archives and hostile layers, one test per case, each loaded into a
store that already holds an image. Each must be refused with exit 1 and one line on stderr
(never "internal error" or a traceback), and leave the store as it was: the same files, the
same rows, `check` clean. The few that are valid input must load.

Built from tests/hostile.py, so the corpus is code, not binary files; the escapes of
tests/test_hostile.py are here too, with the lies about sizes, types and depth that issue 14
found.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable
from pathlib import Path

import attack
import hostile as h
import pytest

GOOD = h.sample_layer()
ONE = [GOOD]


def _layer(entries: list[h.Entry]) -> bytes:
    return h.docker_archive([h.tar(entries)])


def _pax(**headers: str) -> bytes:
    return _layer([h.pax_file("f", headers)])


def _config(**override: object) -> bytes:
    return h.raw_archive(h.manifest_for(ONE), h.config_for(ONE, **override), ONE)


def _manifest(manifest: object) -> bytes:
    return h.raw_archive(manifest, h.config_for(ONE), ONE)


def _gzipped(archive: bytes) -> bytes:
    return gzip.compress(archive, mtime=0)


def _big_config() -> bytes:
    """A config of 2 MiB (a long label): valid input, gzipped so the reader gets it in pieces."""
    return _gzipped(_config(config={"Labels": {"big": "x" * (2 << 20)}}))


# name -> the archive's builder
CASES: dict[str, Callable[[], bytes]] = {
    # tar headers that lie
    "pax-mtime-1e30": lambda: _pax(mtime="1e30"),
    "pax-mtime-nan": lambda: _pax(mtime="nan"),
    "pax-mtime-negative-huge": lambda: _pax(mtime="-1e30"),
    "pax-uid-negative": lambda: _pax(uid="-7"),
    "pax-uid-huge": lambda: _pax(uid=str(1 << 70)),
    "pax-gid-negative": lambda: _pax(gid="-7"),
    "pax-size-negative": lambda: _pax(size="-1"),
    "pax-size-huge": lambda: _pax(size=str(1 << 70)),
    "pax-size-not-a-number": lambda: _pax(size="12abc"),
    "device-major-huge": lambda: h.docker_archive([h.device_tar(1 << 40, 1)]),
    "device-minor-huge": lambda: h.docker_archive([h.device_tar(1, 1 << 40)]),
    # escapes (tests/test_hostile.py checks their messages and the host's files)
    "traversal": lambda: h.docker_archive([h.path_traversal()]),
    "absolute-path": lambda: h.docker_archive([h.absolute_path()]),
    "symlink-escape": lambda: h.docker_archive([h.symlink_write_through(relative=True)]),
    "hardlink-escape": lambda: h.docker_archive([h.hardlink_outside()]),
    # JSON of the wrong type, anywhere in the config
    "config-config-is-a-string": lambda: _config(config="str"),
    "config-config-is-a-list": lambda: _config(config=[]),
    "config-rootfs-is-a-list": lambda: _config(rootfs=[]),
    "config-diff-ids-not-strings": lambda: _config(rootfs={"type": "layers", "diff_ids": [1]}),
    "config-diff-ids-a-string": lambda: _config(rootfs={"type": "layers", "diff_ids": "sha256:00"}),
    "config-env-is-a-map": lambda: _config(config={"Env": {"A": "B"}}),
    "config-labels-is-a-list": lambda: _config(config={"Labels": ["a"]}),
    "config-history-is-a-map": lambda: _config(history={"created": "x"}),
    "config-is-a-list": lambda: h.raw_archive(h.manifest_for(ONE), [], ONE),
    "config-is-null": lambda: h.raw_archive(h.manifest_for(ONE), None, ONE),
    "config-not-json": lambda: h.raw_archive(h.manifest_for(ONE), b"{not json", ONE),
    "config-deeply-nested": lambda: h.raw_archive(h.manifest_for(ONE), b'{"config":' + h.nested(100_000) + b"}", ONE),
    # ... and in the manifest
    "manifest-is-a-map": lambda: _manifest({"Config": "CONFIG"}),
    "manifest-entry-is-a-string": lambda: _manifest(["CONFIG"]),
    "manifest-layers-is-a-string": lambda: _manifest(h.manifest_for(ONE, Layers="0/layer.tar")),
    "manifest-layers-not-strings": lambda: _manifest(h.manifest_for(ONE, Layers=[0])),
    "manifest-repotags-is-a-string": lambda: _manifest(h.manifest_for(ONE, RepoTags="hostile:latest")),
    "manifest-repotags-not-strings": lambda: _manifest(h.manifest_for(ONE, RepoTags=[7])),
    "manifest-config-is-a-map": lambda: _manifest(h.manifest_for(ONE, Config={})),
    "manifest-deeply-nested": lambda: _manifest(h.nested(100_000)),
    "manifest-layer-missing": lambda: _manifest(h.manifest_for(ONE, Layers=["9/layer.tar"])),
    "manifest-too-few-layers": lambda: _manifest(h.manifest_for(ONE, Layers=[])),
    # references
    "tag-with-trailing-newline": lambda: _manifest(h.manifest_for(ONE, repo_tag="hostile:latest\n")),
    "tag-non-ascii": lambda: _manifest(h.manifest_for(ONE, repo_tag="hostilé:latest")),
    "tag-uppercase-repository": lambda: _manifest(h.manifest_for(ONE, repo_tag="Hostile:latest")),
}

# Valid input that must load (exit 0, the image listed).
VALID = {
    "big-gzip-config": _big_config,
    # a later entry replaces an earlier one of the same name, as Docker applies layers
    "duplicate-entries": lambda: _layer([h.file("f", b"one"), h.directory("f"), h.file("f/x"), h.file("f/x", b"2")]),
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple]:
    """A store holding one image, and its state: each test gets a copy (a load per test would
    double the corpus's time)."""
    attack.warm()
    top = tmp_path_factory.mktemp("corpus")
    good = top / "good.tar"
    good.write_bytes(h.docker_archive([h.gzip_bytes(GOOD)], repo_tag="good:1"))
    attack.ok(top / "root", "load", "-q", "-i", str(good))
    return top / "root", state(top / "root")


@pytest.fixture
def store(template: tuple[Path, tuple], tmp_path: Path) -> tuple[Path, tuple]:
    """A copy of the template store, and the state a refused load must leave it in."""
    root = tmp_path / "root"
    shutil.copytree(template[0], root, symlinks=True)
    return root, template[1]


def state(root: Path) -> tuple:
    images = attack.ok(root, "images", "-a", "--no-trunc", "--format", "json").stdout
    return attack.listing(root), attack.rows(root), images


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_archive_is_refused_in_one_line_and_changes_nothing(
    case: str, store: tuple[Path, tuple], tmp_path: Path
) -> None:
    store, before = store
    path = tmp_path / f"{case}.tar"
    path.write_bytes(CASES[case]())
    result = attack.Child(store, ["load", "-i", str(path)]).wait(timeout=30)
    attack.count("corpus", "refused" if result.returncode == 1 else f"exit {result.returncode}")
    assert result.returncode == 1, result.stderr
    attack.assert_clean_error(result)
    assert result.stdout == b""
    assert state(store) == before
    assert h.escaped() == []
    attack.ok(store, "check")


@pytest.mark.parametrize("case", list(VALID))
def test_valid_but_unusual_archive_loads(case: str, store: tuple[Path, tuple], tmp_path: Path) -> None:
    store = store[0]
    path = tmp_path / f"{case}.tar"
    path.write_bytes(VALID[case]())
    result = attack.Child(store, ["load", "-i", str(path)]).wait(timeout=30)
    attack.count("corpus", "valid loaded" if result.returncode == 0 else "valid refused")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines() == ["Loaded image: hostile:latest"]
    attack.ok(store, "check")


def test_load_from_dev_zero_ends_with_one_line(store: tuple[Path, tuple]) -> None:
    """An endless stream of zeros is no archive: refused soon, not read forever."""
    store, before = store
    result = attack.Child(store, ["load"], stdin=Path("/dev/zero")).wait(timeout=5)
    attack.count("corpus", "refused" if result.returncode == 1 else f"exit {result.returncode}")
    assert result.returncode == 1
    attack.assert_clean_error(result)
    assert state(store) == before
