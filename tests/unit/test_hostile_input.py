"""Hostile input to `load` gets one clear line and leaves the store as it was (issue 14, items
9-12): tar fields no file system takes, configs and manifests of the wrong JSON types, invalid
tags, endless zeros on stdin, headers that would fill memory; and large documents, which are
valid, load.

Archives are built in memory with tests/hostile.py; each case runs the real CLI in a subprocess.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import hostile as h
import pytest

LAYER = h.tar([h.directory("etc"), h.file("etc/hostname", b"bilge\n")])
DIFF_ID = h.diff_id(LAYER)


def archive(config: dict | None = None, entry: Callable[[dict], object] | None = None, layer: bytes = LAYER) -> bytes:
    """A docker-archive of one image tagged t:1; `config` updates its config, `entry` turns its
    manifest.json entry into what manifest.json holds."""
    doc = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [h.diff_id(layer)]},
    }
    config_bytes = json.dumps(doc | (config or {})).encode()
    name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    item = {"Config": name, "RepoTags": ["t:1"], "Layers": ["0/layer.tar"]}
    manifest = entry(item) if entry else [item]
    manifest_bytes = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
    return h.tar(
        [
            h.file("manifest.json", manifest_bytes),
            h.file(name, config_bytes),
            h.directory("0"),
            h.file("0/layer.tar", layer),
        ]
    )


def pax_layer(**records: str) -> bytes:
    info, data = h.file("f")
    info.pax_headers = records
    return h.tar([(info, data)])


def assert_consistent(root: Path) -> None:
    """What `bilge check` proves (rule 2), in this process: a subprocess costs more than the check."""
    from bilge.store.check import check
    from bilge.store.core import Store

    store = Store(root)
    try:
        assert check(store).problems == []
    finally:
        store.close()


def rows(root: Path) -> dict[str, int]:
    """Rows of every table but the schema's own bookkeeping."""
    with sqlite3.connect(root / "bilge.db") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables if t not in ("meta", "schema")
        }


def assert_one_line_refusal(proc: subprocess.CompletedProcess, match: str = "") -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert match in lines[0], lines[0]


@pytest.fixture(scope="module")
def seeded_template(tmp_path_factory) -> Path:
    """A store holding one good image, made once: each test starts from a copy of it."""
    root = tmp_path_factory.mktemp("seeded") / "root"
    path = root.parent / "good.tar"
    path.write_bytes(h.docker_archive([h.gzip_bytes(h.sample_layer())], repo_tag="good:1"))
    env = {**os.environ, "BILGE_ROOT": str(root)}
    subprocess.run([sys.executable, "-m", "bilge", "load", "-i", str(path)], env=env, check=True, capture_output=True)
    return root


@pytest.fixture
def seeded(seeded_template: Path, bilge_root: Path) -> Path:
    shutil.copytree(seeded_template, bilge_root, symlinks=True, dirs_exist_ok=True)
    return bilge_root


def assert_refused_and_unchanged(bilge, root: Path, data: bytes, match: str, tmp_path: Path) -> None:
    before = rows(root)
    path = tmp_path / "hostile.tar"
    path.write_bytes(data)
    assert_one_line_refusal(bilge("load", "-i", path, check=False), match)
    assert rows(root) == before
    assert list((root / "ingest").iterdir()) == []
    assert_consistent(root)


# -- item 11: tar fields, JSON types, nesting ----------------------------------------------------

TAR_FIELDS = {
    "mtime-1e30": (pax_layer(mtime="1e30"), "mtime 1e+30 is out of range"),
    "mtime-nan": (pax_layer(mtime="nan"), "mtime nan is out of range"),
    "uid-negative": (pax_layer(uid="-7"), "uid -7 is out of range"),
    "uid-huge": (pax_layer(uid=str(1 << 70)), f"uid {1 << 70} is out of range"),
    "size-negative": (pax_layer(size="-5"), "size -5 is out of range"),
    "device-huge": (h.device_tar(1 << 40, 3), f"device {1 << 40}:3 is out of range"),
}


@pytest.mark.parametrize("case", list(TAR_FIELDS))
def test_tar_fields_out_of_range_are_refused(case, bilge, seeded, tmp_path):
    layer, match = TAR_FIELDS[case]
    assert_refused_and_unchanged(bilge, seeded, archive(layer=layer), match, tmp_path)


JSON_TYPES = {
    "config-is-a-string": (archive({"config": "str"}), "image config: config is not a JSON object"),
    "diff-id-not-a-string": (archive({"rootfs": {"type": "layers", "diff_ids": [1]}}), "is not a list of strings"),
    "labels-a-list": (archive({"config": {"Labels": []}}), "config.Labels does not map strings to strings"),
    "env-a-map": (archive({"config": {"Env": {"A": "1"}}}), "image config config Env is not a list of strings"),
    "cmd-a-string": (archive({"config": {"Cmd": "ls"}}), "image config config Cmd is not a list of strings"),
    "ports-a-list": (archive({"config": {"ExposedPorts": ["80/tcp"]}}), "ExposedPorts is not a JSON object"),
    "history-a-map": (archive({"history": {"created": "x"}}), "image config: history is not a list"),
    "history-entry-a-string": (archive({"history": ["x"]}), "image config history 0 is not a JSON object"),
    "empty-layer-a-string": (archive({"history": [{"empty_layer": "yes"}]}), "empty_layer is not true or false"),
    "manifest-a-map": (archive(entry=lambda item: {"0": item}), "manifest.json is not a list"),
    "repotags-a-string": (
        archive(entry=lambda item: [item | {"RepoTags": "t:1"}]),
        "RepoTags is not a list of strings",
    ),
    "layers-numbers": (archive(entry=lambda item: [item | {"Layers": [0]}]), "Layers is not a list of strings"),
    "manifest-nested": (archive(entry=lambda item: h.nested(200_000)), "manifest.json is not valid JSON"),
}


def deep_config_archive(depth: int = 200_000) -> bytes:
    config = b'{"rootfs":{"type":"layers","diff_ids":["' + DIFF_ID.encode() + b'"]},"x":' + h.nested(depth) + b"}"
    name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": name, "RepoTags": ["t:1"], "Layers": ["0/layer.tar"]}]).encode()
    return h.tar([h.file("manifest.json", manifest), h.file(name, config), h.file("0/layer.tar", LAYER)])


JSON_TYPES["config-nested-200000-deep"] = (deep_config_archive(), "image config is not valid JSON")


@pytest.mark.parametrize("case", list(JSON_TYPES))
def test_documents_of_the_wrong_types_are_refused(case, bilge, seeded, tmp_path):
    data, match = JSON_TYPES[case]
    assert_refused_and_unchanged(bilge, seeded, data, match, tmp_path)


# -- item 12: tags before anything is committed; endless zeros ---------------------------------


@pytest.mark.parametrize("tag", ["Bad:Tag", "t:1\n", "t:caf\u00e9"])
def test_an_invalid_tag_commits_nothing(tag, bilge, seeded, tmp_path):
    data = archive(entry=lambda item: [item | {"RepoTags": [tag]}])
    assert_refused_and_unchanged(bilge, seeded, data, "invalid reference format", tmp_path)
    shown = json.loads(bilge("images", "-a", "--format", "json").stdout)
    assert [(image["Repository"], image["Tag"]) for image in shown] == [("good", "1")]  # no <none> left


def _load_from(stdin: Callable[[], object], root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "BILGE_ROOT": str(root)}
    with stdin() as source:  # type: ignore[attr-defined]
        return subprocess.run(
            [sys.executable, "-m", "bilge", "load"], stdin=source, capture_output=True, text=True, env=env, timeout=30
        )


def _zeros_after(head: bytes) -> Callable[[], object]:
    """A pipe that carries `head`, then zeros without end (as `cat head /dev/zero`)."""

    def start():
        feeder = subprocess.Popen(["cat", "-", "/dev/zero"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert feeder.stdin is not None and feeder.stdout is not None
        feeder.stdin.write(head)
        feeder.stdin.close()
        return _Reaped(feeder)

    return start


class _Reaped:
    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc

    def __enter__(self):
        return self.proc.stdout

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()


ENDLESS = {
    "dev-zero": (lambda: open("/dev/zero", "rb"), "not a valid image archive: it is empty"),
    "archive-then-zeros": (_zeros_after(archive()), "bytes follow the end of the tar archive"),
    "gzip-then-zeros": (_zeros_after(gzip.compress(archive())), "bytes of zeros follow the gzip stream"),
}


@pytest.mark.parametrize("case", list(ENDLESS))
def test_endless_zeros_on_stdin_fail_promptly(case, bilge, seeded):
    stdin, match = ENDLESS[case]
    before = rows(seeded)
    assert_one_line_refusal(_load_from(stdin, seeded), match)  # within the 30 s timeout
    assert rows(seeded) == before
    assert_consistent(seeded)


# -- item 9: documents over a decompressor's read and over the old 16 MiB -----------------------


def test_a_gzipped_archive_with_a_large_config_and_manifest_loads(bilge, seeded, tmp_path):
    label = "x" * (3 << 20)  # the config > 1 MiB: more than one read of the decompressor returns
    padding = " " * (17 << 20)  # manifest.json > 16 MiB: JSON allows the whitespace
    data = archive({"config": {"Labels": {"big": label}}}, entry=lambda item: (json.dumps([item]) + padding).encode())
    path = tmp_path / "big.tar.gz"
    path.write_bytes(gzip.compress(data, compresslevel=1))
    assert bilge("load", "-i", path).stdout == "Loaded image: t:1\n"
    shown = json.loads(bilge("inspect", "t:1").stdout)
    assert shown[0]["Config"]["Labels"]["big"] == label


def test_a_document_past_the_cap_is_refused_by_name(bilge, seeded, tmp_path):
    """An OCI layout whose index.json (sparse: no time or disk spent) is past the cap."""
    from bilge.store.archive.load import MAX_DOCUMENTS

    layout = tmp_path / "layout"
    layout.mkdir()
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    with open(layout / "index.json", "wb") as f:
        f.truncate(MAX_DOCUMENTS + 1)
    before = rows(seeded)
    proc = bilge("load", "-i", layout, check=False)
    assert_one_line_refusal(proc, f"archive member 'index.json' is {MAX_DOCUMENTS + 1} bytes, more than the 256 MiB")
    assert rows(seeded) == before


# -- item 10: many huge headers ------------------------------------------------------------------

_MEMORY_PROBE = r"""
import io, resource, sys, tarfile, tempfile
from bilge.store.errors import InvalidInput
from bilge.store.layerfs import extract

info = tarfile.TarInfo("f")
info.size = 1
info.pax_headers = {"comment": "x" * (8 << 20)}
out = io.BytesIO()
with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
    tf.addfile(info, io.BytesIO(b"x"))
one = out.getvalue().rstrip(b"\0")  # the entry without the archive's end (nor its padding)
one += bytes(-len(one) % 512)


class Layer(io.RawIOBase):
    # 100 such entries, then the end of the archive, made as they are read
    def __init__(self):
        self.parts = [one] * 100 + [bytes(1024)]
        self.buf = b""

    def readable(self):
        return True

    def readinto(self, b):
        while not self.buf and self.parts:
            self.buf = self.parts.pop(0)
        n = min(len(b), len(self.buf))
        b[:n] = self.buf[:n]
        self.buf = self.buf[n:]
        return n


with tempfile.TemporaryDirectory() as d:
    try:
        extract.extract(io.BufferedReader(Layer()), d, extract.Limits(), "aufs")
        print("extracted")
    except InvalidInput as exc:
        print(exc)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10)
"""


def test_many_huge_pax_headers_are_refused_in_bounded_memory():
    """100 entries with an 8 MiB PAX comment each: 800 MiB of headers, once all kept for the
    tar-split (1.7 GB of memory); refused after the first few. The bound is loose: the peak also
    holds the allocator's transient 8 MiB copies, 130-340 MiB from run to run."""
    proc = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    message, maxrss_mib = proc.stdout.splitlines()
    assert message.startswith("layer has ") and "bytes of tar headers in 3 entries (the limit is" in message, message
    assert int(maxrss_mib) < 600, f"extracting took {maxrss_mib} MiB"


# -- item 11: the shim when a container has filled the disk -------------------------------------

_FULL_DISK_SHIM = r"""
import resource, signal, sys
from pathlib import Path
from bilge.store.containers import shim

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
shim._write_exit(Path(sys.argv[1]), 4242, 3, 1.5)
print("went on")
"""


def test_the_shim_says_in_one_line_that_it_could_not_write_the_exit(tmp_path):
    directory = tmp_path / "0123456789abcdef"
    directory.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", _FULL_DISK_SHIM, str(directory)], capture_output=True, text=True, timeout=60
    )
    assert (proc.returncode, proc.stdout) == (0, "went on\n"), proc.stderr
    assert proc.stderr == "bilge shim: writing the exit of 0123456789ab failed: File too large\n"
    assert list(directory.iterdir()) == []  # no exit.json, and no half-written temporary
