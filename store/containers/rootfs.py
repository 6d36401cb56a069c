"""A container's root file system: the kernel's overlayfs over the image's layers, or a copy (vfs).

Layout of `containers/<id>/`:

- `init/`: Docker's "init layer": the mount points the runtime needs (/proc, /sys, /dev/pts,
  /etc/hosts, …). Without it the runtime would create them in the writable layer and every
  container would show them in `diff` and carry them into `commit`.
- overlay: `diff/` (upperdir, the writable layer), `work/`, and `merged/` where the overlay is
  mounted, lowerdir = init + the image's layers. The mount options name the layers through the
  short `layers/l/<short>` links, relative to `layers/`, so a deep image still fits in the
  kernel's one-page limit for mount options.
- vfs: `merged/` is a private copy of the image's layers plus the init layer, built by applying
  each layer in turn with its whiteouts (both the overlay format: char 0/0 devices and the
  opaque xattr, and the AUFS format: `.wh.` files). It works wherever overlay cannot mount.

Only `start` mounts; stop and rm unmount, so a container that is not running holds no mount.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..fsutil import copy_tree, rmtree, walk
from ..layerfs import securepath
from ..layerfs.whiteouts import OVERLAY_OPAQUE_XATTR, is_marker, is_opaque, whited_out
from ..paths import Layout

if TYPE_CHECKING:
    import ctypes

_DIR, _FILE = "dir", "file"
# Docker's initlayer.Setup: what the runtime mounts over, and /etc/mtab as the link it expects.
INIT_ENTRIES = {
    "dev/pts": _DIR,
    "dev/shm": _DIR,
    "proc": _DIR,
    "sys": _DIR,
    "etc/resolv.conf": _FILE,
    "etc/hosts": _FILE,
    "etc/hostname": _FILE,
    "dev/console": _FILE,
    "etc/mtab": "/proc/mounts",
}
# Our diff and commit read the upperdir as it is: no redirects, no metadata-only copy-up.
_OVERLAY_OPTIONS = ("index=off,redirect_dir=off,metacopy=off", "")
_MNT_DETACH = 2


@cache
def _libc() -> ctypes.CDLL:
    """mount(2) and umount2(2), set up on first use: reading containers never mounts."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return libc


def _errno() -> int:
    import ctypes

    return ctypes.get_errno()


def make_init_layer(path: Path) -> None:
    path.mkdir(0o755)
    for rel, kind in INIT_ENTRIES.items():
        target = path / rel
        target.parent.mkdir(0o755, parents=True, exist_ok=True)
        if kind == _DIR:
            target.mkdir(0o755, parents=True, exist_ok=True)
        elif kind == _FILE:
            target.touch(0o755)
        else:
            target.symlink_to(kind)


def make_volume_dirs(root: Path, volumes: dict | None) -> None:
    """Each VOLUME path as a directory of the container's root, made as Docker makes a volume's
    mount point (0755, root's, with any missing parents): bilge has no volumes, so what is
    written there stays in the writable layer. A directory the image has is left as it is,
    which is what Docker's volume copies (mode, owner, content)."""
    for target in sorted(volumes or {}):
        parts = securepath.split_name(target.lstrip("/"), "VOLUME")
        securepath.resolve_dir(str(root), parts, f"VOLUME {target}", create=True)


def layer_chain(layout: Layout, container_dir: Path, ancestry: list[dict]) -> list[tuple[Path, str]]:
    """(directory, whiteout format) of every lower layer, uppermost first: init, then the image's."""
    return [(container_dir / "init", "overlay")] + [
        (layout.layers / row["dir"] / "diff", row["whiteouts"]) for row in ancestry
    ]


def overlay_unusable(layout: Layout, ancestry: list[dict]) -> str | None:
    """Why overlay cannot hold a container of these layers here, or None: it needs root, layers with
    overlay's whiteouts, and a kernel that mounts it (tried on a probe)."""
    if os.geteuid() != 0:
        return "mounting overlayfs needs root"
    if any(row["whiteouts"] != "overlay" for row in ancestry):
        return "the image's layers were extracted without root (AUFS-style whiteouts)"
    probe = layout.containers / f".probe-{uuid.uuid4().hex}"
    try:
        for name in ("lower", "upper", "work", "merged"):
            (probe / name).mkdir(parents=True)
        _mount_overlay(probe / "merged", str(probe / "lower"), str(probe / "upper"), str(probe / "work"))
        unmount(probe / "merged")
    except OSError as exc:
        return f"the kernel refused an overlay mount ({exc.strerror})"
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    return None


def mount(layout: Layout, container_dir: Path, ancestry: list[dict]) -> None:
    """Mount the container's overlay on merged/ unless it is mounted already."""
    merged = container_dir / "merged"
    if os.path.ismount(merged):
        return
    rel = os.path.relpath(container_dir, layout.layers)
    lower = ":".join([f"{rel}/init"] + [f"l/{row['short']}" for row in ancestry])
    cwd = os.open(".", os.O_RDONLY)
    os.chdir(layout.layers)
    try:
        _mount_overlay(merged, lower, f"{rel}/diff", f"{rel}/work")
    finally:
        os.fchdir(cwd)
        os.close(cwd)


def _mount_overlay(target: Path, lower: str, upper: str, work: str) -> None:
    base = f"lowerdir={lower},upperdir={upper},workdir={work}"
    for extra in _OVERLAY_OPTIONS:
        data = f"{base},{extra}" if extra else base
        if _libc().mount(b"overlay", os.fsencode(target), b"overlay", 0, data.encode()) == 0:
            return
        code = _errno()
        if code != errno.EINVAL:
            break
    raise OSError(code, os.strerror(code), str(target))


def unmount(target: Path) -> None:
    """Lazily, so a shell still sitting in the directory cannot keep the container from stopping."""
    if os.path.ismount(target) and _libc().umount2(os.fsencode(target), _MNT_DETACH) != 0:
        code = _errno()
        if code not in (errno.EINVAL, errno.ENOENT):
            raise OSError(code, os.strerror(code), str(target))


# -- vfs -------------------------------------------------------------------------------------


def build_vfs(layers: list[tuple[Path, str]], target: Path, scratch: Path) -> None:
    """Apply `layers` (uppermost first, as `layer_chain` gives them) into the new directory `target`.

    Each layer is copied exactly (fsutil.copy_tree) into `scratch`, then moved into place entry
    by entry, so the copying logic lives in one place and applying a layer is renames.
    """
    target.mkdir(0o755)
    for i, (diff, whiteouts) in enumerate(reversed(layers)):
        staged = scratch / f"layer-{i}"
        copy_tree(str(diff), str(staged))
        _apply(str(staged), str(target), whiteouts)
        rmtree(str(staged))


def _apply(src: str, dst: str, whiteouts: str) -> None:
    """Move layer directory `src` onto `dst`: in each directory whiteouts first, then entries
    (a directory merged into one below is entered in its turn), then its metadata once all
    below it is done. An explicit stack, not recursion: the layer picks the depth."""
    stack = [_merging(src, dst, whiteouts)]
    while stack:
        src, dst, st, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            _set_dir_meta(src, dst, st)
            stack.pop()
            continue
        target = os.path.join(dst, entry.name)
        if entry.is_dir(follow_symlinks=False) and not is_opaque(entry.path, whiteouts) and _real_dir(target):
            stack.append(_merging(entry.path, target, whiteouts))
            continue
        _remove(target)
        if entry.is_dir(follow_symlinks=False):
            _strip(entry.path, whiteouts)
        os.rename(entry.path, target)


def _merging(src: str, dst: str, whiteouts: str) -> tuple[str, str, os.stat_result, Iterator[os.DirEntry]]:
    """Start merging `src` into `dst`: apply its whiteouts; the rest of its entries, in name order."""
    st = os.lstat(src)
    entries = sorted(os.scandir(src), key=lambda e: e.name)
    for entry in entries:
        hidden = whited_out(entry, whiteouts)
        if hidden is not None:
            _remove(os.path.join(dst, hidden))
    rest = [e for e in entries if whited_out(e, whiteouts) is None and not is_marker(e.name, whiteouts)]
    return src, dst, st, iter(rest)


def _strip(top: str, whiteouts: str) -> None:
    """A directory moved whole hides nothing below it: drop its whiteouts and opaque marks."""
    for parent, _, _ in walk(top):
        st = os.lstat(parent)
        changed = False
        for entry in list(os.scandir(parent)):
            if whited_out(entry, whiteouts) is not None or is_marker(entry.name, whiteouts):
                os.unlink(entry.path)
                changed = True
        if whiteouts == "overlay" and is_opaque(parent, whiteouts):
            os.removexattr(parent, OVERLAY_OPAQUE_XATTR, follow_symlinks=False)
        if changed:
            os.utime(parent, ns=(st.st_atime_ns, st.st_mtime_ns))


def _set_dir_meta(src: str, dst: str, st: os.stat_result) -> None:
    """The upper layer's directory wins: owner, mode, xattrs, and its times from before the moves."""
    if os.geteuid() == 0:
        os.lchown(dst, st.st_uid, st.st_gid)
    shutil.copystat(src, dst, follow_symlinks=False)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def _real_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _remove(path: str) -> None:
    if _real_dir(path):
        rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)
