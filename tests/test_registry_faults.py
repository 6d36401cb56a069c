"""A pull survives a dropped connection (Range resume), rejects wrong bytes without
storing anything, retries 500s then fails clearly, leaves a consistent store on ctrl-C, and
never sends credentials to the storage a registry redirects blob downloads to.

The faults come from a proxy of our own in front of the real registry (registry_fixtures)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from registry_fixtures import PASSWORD, USER  # type: ignore[import-not-found]


def biggest_layer(reg, name: str) -> dict:
    return max(json.loads(reg.raw_manifest(name))["layers"], key=lambda layer: layer["size"])


def assert_nothing_stored(bilge, bilge_root: Path) -> None:
    assert bilge("images", "-aq").stdout.strip() == ""
    with sqlite3.connect(bilge_root / "bilge.db") as db:
        assert db.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM layers").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM layer_blobs").fetchone()[0] == 0
    assert list((bilge_root / "ingest").iterdir()) == []
    assert "store is consistent" in bilge("check").stderr


def test_dropped_connection_resumes_with_range(bilge, registry, proxy, fixtures_dir: Path) -> None:
    layer = biggest_layer(registry, "fixtures/busybox:latest")
    assert layer["size"] > 600_000
    proxy.faults.drop_after[layer["digest"]] = 300_000
    ref = f"{proxy.host}/fixtures/busybox:latest"
    bilge("pull", ref)
    gets = [(status, rng) for m, p, status, rng in proxy.faults.log if m == "GET" and layer["digest"] in p]
    assert gets[0] == (200, "")
    assert len(gets) == 2 and gets[1][0] == 206
    assert gets[1][1].startswith("bytes=") and int(gets[1][1][6:].rstrip("-")) > 0
    docker = {t: i for i in json.loads((fixtures_dir / "docker" / "inspect.json").read_text()) for t in i["RepoTags"]}
    assert json.loads(bilge("inspect", ref).stdout)[0]["Id"] == docker["busybox:latest"]["Id"]
    assert "store is consistent" in bilge("check").stderr


def test_blobs_in_small_pieces_extract_completely(bilge, registry, proxy, fixtures_dir: Path) -> None:
    """Network reads come short; a tar header split across two must not end the layer early."""
    proxy.faults.dribble = 700
    ref = f"{proxy.host}/fixtures/zoo:latest"
    bilge("pull", ref)
    docker = {t: i for i in json.loads((fixtures_dir / "docker" / "inspect.json").read_text()) for t in i["RepoTags"]}
    got = json.loads(bilge("inspect", ref).stdout)[0]
    assert (got["Id"], got["Size"]) == (docker["zoo:latest"]["Id"], docker["zoo:latest"]["Size"])


def test_wrong_bytes_are_a_digest_error_and_nothing_is_stored(bilge, registry, proxy, bilge_root: Path) -> None:
    layer = biggest_layer(registry, "fixtures/zoo:latest")
    proxy.faults.corrupt.add(layer["digest"])
    result = bilge("pull", f"{proxy.host}/fixtures/zoo:latest", check=False)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: blob " + layer["digest"]) and "hashes to sha256:" in last
    assert_nothing_stored(bilge, bilge_root)


def test_500s_are_retried_then_fail_clearly(bilge, proxy, bilge_root: Path) -> None:
    proxy.faults.fail["/manifests/"] = 0
    result = bilge("pull", f"{proxy.host}/fixtures/busybox:latest", check=False)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: GET http://") and "500" in last and "after 4 attempts" in last
    assert proxy.faults.fail["/manifests/"] == 4
    assert_nothing_stored(bilge, bilge_root)


def test_500s_on_a_blob_fail_the_pull_and_keep_nothing(bilge, registry, proxy, bilge_root: Path) -> None:
    layer = biggest_layer(registry, "fixtures/app:v1")
    proxy.faults.fail[layer["digest"]] = 0
    result = bilge("pull", f"{proxy.host}/fixtures/app:v1", check=False)
    assert result.returncode == 1 and "500" in result.stderr
    assert proxy.faults.fail[layer["digest"]] == 4
    assert_nothing_stored(bilge, bilge_root)


def test_transient_500_is_retried(bilge, registry, proxy) -> None:
    layer = biggest_layer(registry, "fixtures/busybox:latest")
    proxy.faults.fail[layer["digest"]] = 0

    def heal() -> None:
        while proxy.faults.fail.get(layer["digest"], 0) < 2:
            time.sleep(0.05)
        del proxy.faults.fail[layer["digest"]]

    import threading

    healer = threading.Thread(target=heal)
    healer.start()
    bilge("pull", f"{proxy.host}/fixtures/busybox:latest")
    healer.join()


def test_ctrl_c_mid_pull_leaves_a_consistent_store(bilge, registry, proxy, bilge_root: Path) -> None:
    layer = biggest_layer(registry, "fixtures/zoo:latest")
    proxy.faults.throttle = 0.1  # ~640 KiB/s: the biggest layer takes seconds
    proc = subprocess.Popen(
        [sys.executable, "-m", "bilge", "pull", f"{proxy.host}/fixtures/zoo:latest"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # started as a shell's background job is: SIGINT ignored, which Python leaves ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    deadline = time.monotonic() + 30
    while not any(m == "GET" and layer["digest"] in p for m, p, _, _ in proxy.faults.log):
        assert time.monotonic() < deadline and proc.poll() is None, "the pull never reached the layer"
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.decode().strip().splitlines()[-1] == "Error: interrupted"
    assert f"{layer['digest'][7:19]}: Pull complete" not in err.decode()
    assert processes_running(f"{proxy.host}/fixtures/zoo:latest") == []  # its layer workers went with it
    assert_nothing_stored(bilge, bilge_root)


def processes_running(marker: str) -> list[int]:
    """Live processes whose command line mentions `marker` (forked workers keep their parent's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("State:"))
        except (OSError, StopIteration):
            continue
        if marker in cmdline and "zombie" not in state:
            found.append(int(entry.name))
    return found


def test_redirected_blobs_get_no_credentials(bilge, htpasswd_registry, proxy_for, docker_config: dict) -> None:
    front = proxy_for(htpasswd_registry)
    front.faults.redirect_blobs = True
    bilge("login", front.host, "-u", USER, "--password-stdin", input=PASSWORD, env=docker_config)
    bilge("pull", f"{front.host}/private/busybox:latest", env=docker_config)
    assert len(front.faults.direct_auth) == 3  # the config and two layers, all via the redirect
    assert front.faults.direct_auth == [None, None, None]


def test_a_pull_longer_than_its_lease_keeps_it(bilge, registry, proxy, bilge_root: Path, fixtures_dir: Path) -> None:
    """The lease is renewed while the pull works: `check --repair` in the middle of a pull that
    has outlived its lease's first expiry finds it live and leaves its scratch alone."""
    layer = biggest_layer(registry, "fixtures/zoo:latest")
    proxy.faults.throttle = 64 * 1024 * 6 / layer["size"]  # the biggest layer takes about six seconds
    ref = f"{proxy.host}/fixtures/zoo:latest"
    env = {"BILGE_LEASE_TTL": "1.5"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bilge", "pull", ref],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "BILGE_ROOT": str(bilge_root), **env},
    )
    deadline = time.monotonic() + 30
    while not any(m == "GET" and layer["digest"] in p for m, p, _, _ in proxy.faults.log):
        assert time.monotonic() < deadline and proc.poll() is None, "the pull never reached the layer"
        time.sleep(0.05)
    time.sleep(2.5)  # past the first expiry
    assert proc.poll() is None, "the pull finished too soon to test anything"
    repaired = bilge("check", "--repair", env=env)
    assert "expired lease" not in repaired.stderr and "work in progress" not in repaired.stderr, repaired.stderr
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    docker = {t: i for i in json.loads((fixtures_dir / "docker" / "inspect.json").read_text()) for t in i["RepoTags"]}
    assert json.loads(bilge("inspect", ref).stdout)[0]["Id"] == docker["zoo:latest"]["Id"]
    assert "store is consistent" in bilge("check").stderr
