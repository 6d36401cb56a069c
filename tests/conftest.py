"""The shared pytest harness: bilge as a user runs it, and a real, private Docker daemon.

Tests use real components (design.md, "Real components"). A component that is missing is a
skip on a developer's machine, but a failure under CI, where `.ci/run` must have installed it:
a CI run that quietly skipped the interop tests would prove nothing.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from components import _SBIN, fail_or_skip, require

pytest_plugins = ["registry_fixtures", "containers_support", "attack"]

REPO = Path(__file__).resolve().parent.parent
# Tests make thousands of small files; on the CI machine's ext4 each create costs ~0.5 ms, on
# tmpfs ~20 µs. Behaviour is the same on both, so test scratch lives in RAM when it can;
# benchmarks put their stores on disk explicitly (tests/benchmarks/bench.py).
if "PYTEST_DEBUG_TEMPROOT" not in os.environ and os.access("/dev/shm", os.W_OK):
    os.environ["PYTEST_DEBUG_TEMPROOT"] = "/dev/shm"


def _run(
    cmd: list[str], *, input: bytes | str | None, check: bool, env: dict | None, binary: bool, timeout: float | None
) -> subprocess.CompletedProcess:
    """Run `cmd`, capture both streams; stdout stays bytes with `binary`, else text like stderr.

    Text is decoded with surrogateescape, so odd bytes (file names!) survive a round trip.
    """
    if isinstance(input, str):
        input = input.encode("utf-8", "surrogateescape")
    proc = subprocess.run(cmd, input=input, capture_output=True, env=env, timeout=timeout)
    out = proc.stdout if binary else proc.stdout.decode("utf-8", "surrogateescape")
    err = proc.stderr.decode("utf-8", "surrogateescape")
    result = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    if check:
        assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}\nstderr:\n{err}"
    return result


def _environ(extra: dict | None) -> dict:
    """os.environ with `extra` applied; a value of None removes that variable."""
    env = dict(os.environ)
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


_libc = ctypes.CDLL(None, use_errno=True)
_MNT_DETACH = 2


def _unmount_under(top: Path) -> None:
    """Lazily unmount every mount below `top`, deepest first, so rmtree never walks into one."""
    prefix = os.fsencode(top).rstrip(b"/") + b"/"
    with open("/proc/self/mountinfo", "rb") as f:
        # Field 5 is the mount point, with space, tab, newline and backslash escaped in octal.
        points = [re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m[1], 8)]), line.split()[4]) for line in f]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        if _libc.umount2(point, _MNT_DETACH) != 0:
            warnings.warn(f"umount {os.fsdecode(point)}: {os.strerror(ctypes.get_errno())}")


@pytest.fixture
def bilge_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh, empty store root, exported as BILGE_ROOT so no test ever touches a real store.

    Teardown unmounts whatever a test left mounted inside (overlays, bind mounts), so pytest
    can later delete the directory; the files stay for post-mortems.
    """
    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.setenv("BILGE_ROOT", str(root))
    yield root
    _unmount_under(root)


@pytest.fixture
def bilge(bilge_root: Path):
    """`bilge(*args, input=None, check=True, env=None, binary=False, timeout=300)`.

    Runs `python -m bilge *args` in a subprocess, as a user would, against `bilge_root`;
    `env` adds to (None: removes from) the environment. Asserts exit 0 unless `check=False`.
    """

    def run(
        *args: str,
        input: bytes | str | None = None,
        check: bool = True,
        env: dict | None = None,
        binary: bool = False,
        timeout: float | None = 300,
    ) -> subprocess.CompletedProcess:
        full_env = _environ({"BILGE_ROOT": str(bilge_root), **(env or {})})
        cmd = [sys.executable, "-m", "bilge", *map(str, args)]
        return _run(cmd, input=input, check=check, env=full_env, binary=binary, timeout=timeout)

    return run


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """`../shared/fixtures`: what real Docker and umoci made, the oracle we compare against."""
    path = REPO.parent / "shared" / "fixtures"
    if not path.is_dir():
        pytest.fail(f"{path} is missing: the shared fixtures must sit next to the repo as ../shared", pytrace=False)
    return path


@dataclass(frozen=True)
class Dockerd:
    """A running private dockerd: `host` is its unix:// URL, `env` points tools at it."""

    host: str
    cli: str
    env: dict

    def docker(
        self,
        *args: str,
        input: bytes | str | None = None,
        check: bool = True,
        binary: bool = False,
        timeout: float | None = 300,
    ) -> subprocess.CompletedProcess:
        """Run the docker CLI against this daemon; same capture and check as `bilge`."""
        cmd = [self.cli, "-H", self.host, *map(str, args)]
        return _run(cmd, input=input, check=check, env=self.env, binary=binary, timeout=timeout)


def _stop(proc: subprocess.Popen, grace: float) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _kill_leftover(pidfile: Path, owner: Path) -> None:
    """Kill dockerd's own containerd if dockerd died without stopping it.

    Only if that pid still runs a command line naming `owner`: a stale pidfile's pid may by
    now belong to some other process.
    """
    try:
        pid = int(pidfile.read_text())
        if os.fsencode(owner) in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    """A real dockerd of our own, the oracle for interop (`docker load`, `docker save`).

    Everything it owns is private (data, exec root, socket, pidfile), so it never meets the
    host's daemon or another test run. The directory is short and in /tmp because unix socket
    paths are limited to 108 bytes (dockerd's and its containerd's sockets both live there).
    No bridge and no iptables: the tests need images, not networks, and must not touch the
    host's firewall. Its log stays in pytest's tmp dir after teardown.
    """
    if os.geteuid() != 0:
        fail_or_skip("dockerd needs root")
    exe = require("dockerd", "as the interop oracle")
    cli = "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else require("docker", "to talk to dockerd")
    require("containerd", "to run dockerd")
    require("runc", "to run dockerd")

    base = Path(tempfile.mkdtemp(prefix="bd", dir="/tmp"))
    host = f"unix://{base}/docker.sock"
    log_path = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
    (base / "config").mkdir()
    # Our own client config (no host credential helpers); no context or host that fights -H.
    env = _environ({"DOCKER_CONFIG": str(base / "config"), "DOCKER_HOST": host, "DOCKER_CONTEXT": None})
    env["PATH"] = os.pathsep.join([env.get("PATH", ""), *_SBIN])
    daemon = Dockerd(host=host, cli=cli, env=env)

    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                exe,
                "--data-root",
                f"{base}/data",
                "--exec-root",
                f"{base}/exec",
                "--pidfile",
                f"{base}/docker.pid",
                "-H",
                host,
                "--bridge",
                "none",
                "--iptables=false",
                "--ip6tables=false",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # a ^C reaches pytest, whose teardown then stops it in order
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"dockerd exited {proc.returncode}:\n{log_path.read_text()[-4000:]}", pytrace=False)
            try:
                if daemon.docker("version", check=False, timeout=5).returncode == 0:
                    break
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"dockerd not ready in 30 s:\n{log_path.read_text()[-4000:]}", pytrace=False)
            time.sleep(0.2)
        yield daemon
    finally:
        _stop(proc, grace=30)
        _kill_leftover(base / "exec" / "containerd" / "containerd.pid", base)
        _unmount_under(base)
        shutil.rmtree(base, ignore_errors=True)
        if base.exists():
            warnings.warn(f"could not remove {base}")
