"""Containers end to end under the real runc, on both storage drivers, against what Docker did.

The oracles are ../shared/fixtures/docker: the two containers Docker made
(`containers-inspect.json`, `ps-a-s.jsonl`, `api-containers-size.json`) and
`diff-stopped-with-data.txt`.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from containers_support import DRIVERS, image_size, inspect, mounts_under


@pytest.fixture(scope="module")
def docker_containers(fixtures_dir: Path) -> dict[str, dict]:
    found = json.loads((fixtures_dir / "docker" / "containers-inspect.json").read_text())
    return {c["Name"].lstrip("/"): c for c in found}


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_lesson(ctr, driver):
    """docker run … echo > /hello.txt; docker commit busybox busybox:hello; docker run --rm busybox:hello cat."""
    ctr(
        "run",
        "--storage-driver",
        driver,
        "--name",
        "busybox",
        "busybox",
        "sh",
        "-c",
        'echo "I love Docker." > /hello.txt',
    )
    image_id = ctr("commit", "busybox", "busybox:hello").stdout.strip()
    assert image_id.startswith("sha256:")
    assert (
        ctr("run", "--storage-driver", driver, "--rm", "busybox:hello", "cat", "/hello.txt").stdout
        == "I love Docker.\n"
    )

    listed = {(row["Repository"], row["Tag"]): row for row in json.loads(ctr("images", "--format", "json").stdout)}
    assert listed[("busybox", "hello")]["ID"] == image_id
    assert ("busybox", "latest") in listed
    base, child = inspect(ctr, "busybox:latest"), inspect(ctr, "busybox:hello")
    assert child["RootFS"]["Layers"][:-1] == base["RootFS"]["Layers"]  # the busybox layers, shared
    assert len(child["RootFS"]["Layers"]) == len(base["RootFS"]["Layers"]) + 1
    assert child["Parent"] == base["Id"]
    assert child["Size"] == base["Size"] + len("I love Docker.\n")


@pytest.mark.parametrize("driver", DRIVERS)
def test_stopped_with_data_is_dockers(ctr, driver, fixtures_dir, docker_containers):
    docker = docker_containers["stopped-with-data"]
    ctr(
        "run",
        "--storage-driver",
        driver,
        "--name",
        "stopped-with-data",
        docker["Config"]["Image"],
        *docker["Config"]["Cmd"],
    )

    assert (
        ctr("diff", "stopped-with-data").stdout == (fixtures_dir / "docker" / "diff-stopped-with-data.txt").read_text()
    )
    mine = inspect(ctr, "stopped-with-data", "-s")
    assert (mine["SizeRw"], mine["SizeRootFs"]) == (docker["SizeRw"], docker["SizeRootFs"])
    assert mine["SizeRootFs"] == 40000 + image_size(ctr, "busybox")
    assert (mine["Path"], mine["Args"]) == (docker["Path"], docker["Args"])
    assert mine["State"]["Status"] == "exited" and mine["State"]["ExitCode"] == 0
    assert mine["Driver"] == driver and mine["Name"] == "/stopped-with-data"

    listed = json.loads(ctr("ps", "-a", "-s", "--format", "json").stdout)
    assert [(c["Names"], c["SizeRw"], c["SizeRootFs"]) for c in listed] == [
        ("stopped-with-data", 40000, docker["SizeRootFs"])
    ]
    table = ctr("ps", "-a", "-s").stdout
    assert "40kB (virtual 2.03MB)" in table  # Docker's own words, from ps-a-s.jsonl
    assert '"sh -c \'head -c 4000…"' in table


@pytest.mark.parametrize("driver", DRIVERS)
def test_created_only_is_dockers(ctr, driver, docker_containers):
    docker = docker_containers["created-only"]
    ctr("create", "--storage-driver", driver, "--name", "created-only", docker["Config"]["Image"])

    mine = inspect(ctr, "created-only", "-s")
    assert (mine["SizeRw"], mine["SizeRootFs"]) == (0, docker["SizeRootFs"]) == (0, 2385472)
    assert mine["SizeRootFs"] == image_size(ctr, "app:v1")
    assert mine["State"]["Status"] == "created"
    for key in ("Cmd", "Env", "Labels", "Entrypoint", "WorkingDir", "User", "Image"):
        assert mine["Config"][key] == docker["Config"][key], key
    assert (mine["Path"], mine["Args"], mine["Image"]) == (docker["Path"], docker["Args"], docker["Image"])
    [row] = json.loads(ctr("ps", "-a", "-s", "--format", "json").stdout)
    assert (row["Status"], row["SizeRw"], row["SizeRootFs"]) == ("Created", 0, 2385472)
    assert "0B (virtual 2.39MB)" in ctr("ps", "-a", "-s").stdout


@pytest.mark.parametrize("driver", DRIVERS)
def test_process_killed_from_outside_is_found_exited(ctr, driver):
    ctr("run", "-d", "--storage-driver", driver, "--name", "victim", "busybox", "sleep", "1000")
    state = inspect(ctr, "victim")["State"]
    assert state["Status"] == "running" and state["Pid"] > 0
    os.kill(state["Pid"], signal.SIGKILL)

    deadline = time.monotonic() + 10
    while "Exited (137)" not in ctr("ps", "-a").stdout:
        assert time.monotonic() < deadline, ctr("ps", "-a").stdout
        time.sleep(0.1)
    state = inspect(ctr, "victim")["State"]
    assert (state["Status"], state["ExitCode"], state["Running"], state["Pid"]) == ("exited", 137, False, 0)
    assert ctr("ps", "-q").stdout == ""


@pytest.mark.parametrize("driver", DRIVERS)
def test_rm_of_a_running_container(ctr, bilge_root, driver):
    cid = ctr("run", "-d", "--storage-driver", driver, "--name", "busy", "busybox", "sleep", "1000").stdout.strip()
    if driver == "overlay":
        assert mounts_under(bilge_root) == [str(bilge_root / "containers" / cid / "merged")]

    refused = ctr("rm", "busy", check=False)
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"Error: You cannot remove a running container {cid}. "
        "Stop the container before attempting removal or force remove"
    ]
    assert inspect(ctr, "busy")["State"]["Running"]

    assert ctr("rm", "-f", "busy").stdout == "busy\n"
    assert os.listdir(bilge_root / "containers") == []
    assert mounts_under(bilge_root) == []
    assert ctr("ps", "-aq").stdout == ""


@pytest.mark.parametrize("driver", DRIVERS)
def test_stop_records_size_and_unmounts(ctr, bilge_root, driver):
    ctr(
        "run",
        "-d",
        "--storage-driver",
        driver,
        "--name",
        "writer",
        "busybox",
        "sh",
        "-c",
        "head -c 1234 /dev/zero > /blob; exec sleep 1000",
    )
    deadline = time.monotonic() + 10
    while inspect(ctr, "writer", "-s")["SizeRw"] != 1234:  # measured live while it runs
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert ctr("stop", "-t", "1", "writer").stdout == "writer\n"  # sleep as pid 1 ignores TERM: KILL after 1 s
    mine = inspect(ctr, "writer", "-s")
    assert (mine["State"]["Status"], mine["State"]["ExitCode"], mine["SizeRw"]) == ("exited", 137, 1234)
    assert mounts_under(bilge_root) == []


def test_run_rm_leaves_nothing(ctr, bilge_root):
    assert ctr("run", "--rm", "busybox", "sh", "-c", "echo hi > /x; cat /x").stdout == "hi\n"
    assert ctr("ps", "-aq").stdout == ""
    assert os.listdir(bilge_root / "containers") == []
    assert mounts_under(bilge_root) == []
