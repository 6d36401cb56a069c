"""The vfs driver and both diffs against the kernel's overlayfs, which is the oracle here.

The same three-layer stack is written in both whiteout formats (overlay's char 0/0 devices
and opaque xattr, and AUFS's `.wh.` files); mounted by the kernel, copied by `build_vfs`,
and seen through `merged_view`, it must be the same tree. Then the same edits made through a
kernel overlay mount and in a vfs copy must be listed as Docker's two drivers list them.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from containers_support import needs_containers

from bilge.store.containers import changes as diff
from bilge.store.containers import rootfs


def _layers(base: Path, whiteouts: str) -> list[tuple[Path, str]]:
    """Uppermost first, like rootfs.layer_chain."""

    def gone(layer: Path, rel: str) -> None:
        path = layer / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if whiteouts == "overlay":
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))
        else:
            (path.parent / (".wh." + path.name)).touch()

    def opaque(layer: Path, rel: str) -> None:
        (layer / rel).mkdir(parents=True, exist_ok=True)
        if whiteouts == "overlay":
            os.setxattr(layer / rel, "trusted.overlay.opaque", b"y")
        else:
            (layer / rel / ".wh..wh..opq").touch()

    def write(layer: Path, rel: str, text: str) -> None:
        (layer / rel).parent.mkdir(parents=True, exist_ok=True)
        (layer / rel).write_text(text)

    l1, l2, l3 = (base / whiteouts / name for name in ("l1", "l2", "l3"))
    for layer in (l1, l2, l3):
        layer.mkdir(parents=True)
    for rel, text in (
        ("a/x", "x1"),
        ("a/y", "y"),
        ("b/deep/z", "z"),
        ("b/new", "n"),
        ("c", "c"),
        ("d/keep", "k"),
        ("hard1", "h"),
    ):
        write(l1, rel, text)
    os.link(l1 / "hard1", l1 / "hard2")
    os.symlink("a/x", l1 / "link")
    os.mkfifo(l1 / "fifo")
    os.chmod(l1 / "d" / "keep", 0o640)
    gone(l2, "a/y")
    write(l2, "a/x", "x2")
    opaque(l2, "b")
    write(l2, "b/new", "n2")
    write(l2, "c/inside", "i")
    write(l2, "d/added", "d")
    gone(l3, "c")
    write(l3, "b/new2", "n3")
    gone(l3, "link")
    return [(l3, whiteouts), (l2, whiteouts), (l1, whiteouts)]


def _tree(root: Path) -> dict[str, tuple]:
    """Every path with its type, permissions and content (or link target)."""
    out = {}
    for parent, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(parent) / name
            st = path.lstat()
            rel = str(path.relative_to(root))
            if stat.S_ISREG(st.st_mode):
                out[rel] = ("file", stat.S_IMODE(st.st_mode), path.read_bytes())
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(path))
            else:
                out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode))
    return out


def _mount(target: Path, layers: list[tuple[Path, str]], upper: Path | None = None) -> None:
    options = "lowerdir=" + ":".join(str(p) for p, _ in layers)
    if upper is not None:
        (upper / "diff").mkdir()
        (upper / "work").mkdir()
        options += f",upperdir={upper / 'diff'},workdir={upper / 'work'}"
    target.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(target)], check=True)


@pytest.fixture
def kernel(tmp_path: Path):
    """Mount points made by the test; all unmounted at the end, even when it fails."""
    needs_containers()
    mounted: list[Path] = []
    yield mounted
    for target in mounted:
        rootfs.unmount(target)


def _edit(root: Path) -> None:
    """The same changes, made through an overlay mount or in a vfs copy."""
    (root / "a" / "x").unlink()
    shutil.rmtree(root / "b")
    (root / "b").mkdir(0o755)
    (root / "b" / "q").write_text("q")
    os.chmod(root / "d" / "keep", 0o600)
    (root / "e").mkdir()
    (root / "e" / "f").write_text("f")


def test_vfs_copy_and_merged_view_equal_the_kernels_overlay(kernel, tmp_path):
    oracle, overlay_layers = tmp_path / "kernel", _layers(tmp_path, "overlay")
    _mount(oracle, overlay_layers)
    kernel.append(oracle)
    expected = _tree(oracle)
    assert {"a/x", "b/new", "b/new2", "d/added", "fifo", "hard1", "hard2"} <= set(expected)
    assert not {"a/y", "link", "b/deep", "c"} & set(expected)
    assert expected["a/x"][2] == b"x2" and expected["b/new"][2] == b"n2"
    for whiteouts, layers in (("overlay", overlay_layers), ("aufs", _layers(tmp_path, "aufs"))):
        copy = tmp_path / f"vfs-{whiteouts}"
        (tmp_path / f"scratch-{whiteouts}").mkdir()
        rootfs.build_vfs(layers, copy, tmp_path / f"scratch-{whiteouts}")
        assert _tree(copy) == expected, whiteouts
        assert (copy / "hard1").stat().st_ino == (copy / "hard2").stat().st_ino
        assert not os.listxattr(copy / "b")  # the opaque mark is the layer's, not content

        view = diff.merged_view(layers)
        paths = set()
        stack = [("", view)]
        while stack:
            prefix, node = stack.pop()
            for name, child in (node.children or {}).items():
                paths.add(prefix + name)
                stack.append((prefix + name + "/", child))
        assert paths == set(expected), whiteouts


def test_both_diffs_list_what_docker_lists(kernel, tmp_path):
    """The same list from either driver: what Docker's naive diff lists (test_parity checks it)."""
    layers = _layers(tmp_path, "overlay")
    merged, upper = tmp_path / "merged", tmp_path / "upper"
    upper.mkdir()
    _mount(merged, layers, upper)
    kernel.append(merged)
    _edit(merged)
    rootfs.unmount(merged)
    assert rootfs.is_opaque(str(upper / "diff" / "b"), "overlay")  # the kernel made it so
    by_overlay = [str(c) for c in diff.overlay_changes(str(upper / "diff"), [str(p) for p, _ in layers])]

    copy = tmp_path / "copy"
    (tmp_path / "scratch").mkdir()
    rootfs.build_vfs(layers, copy, tmp_path / "scratch")
    assert diff.vfs_changes(str(copy), layers) == []
    _edit(copy)
    found = diff.vfs_changes(str(copy), layers)
    assert (
        [str(c) for c in found]
        == by_overlay
        == [
            "C /a",
            "D /a/x",
            "C /b",
            "D /b/new",
            "D /b/new2",
            "A /b/q",
            "C /d",
            "C /d/keep",
            "A /e",
            "A /e/f",
        ]
    )
    assert diff.changes_size(str(copy), found) == len("q") + len("k") + len("f")  # added and changed files
