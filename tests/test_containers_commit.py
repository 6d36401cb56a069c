"""`commit`: a container's changes as a layer (with OCI whiteouts) and an image configured the
way Docker's commit configures it."""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

import pytest
from containers_support import DRIVERS, inspect


def saved(ctr, tmp_path: Path, image: str) -> tuple[dict, list[str]]:
    """The image's config and the entry names of its top layer, from `bilge save`."""
    archive = tmp_path / "saved.tar"
    ctr("save", "-o", archive, image)
    with tarfile.open(archive) as tf:
        [manifest] = json.loads(tf.extractfile("manifest.json").read())
        config = json.loads(tf.extractfile(manifest["Config"]).read())
        layer = tarfile.open(fileobj=io.BytesIO(tf.extractfile(manifest["Layers"][-1]).read()))
        return config, layer.getnames()


@pytest.mark.parametrize("driver", DRIVERS)
def test_changes_become_a_layer_with_whiteouts(ctr, tmp_path, driver):
    script = (
        "rm /data/link && rm -rf /data/keep && mkdir /data/keep && echo n > /data/keep/n "
        "&& mkdir /new && echo new > /new/file"
    )
    ctr("run", "--storage-driver", driver, "-u", "0", "--name", "changed", "zoo", script)
    changes = ctr("diff", "changed").stdout.splitlines()
    assert {"D /data/link", "A /new", "A /new/file", "A /data/keep/n", "C /data"} <= set(changes)
    ctr("commit", "changed", "zoo:changed")

    config, names = saved(ctr, tmp_path, "zoo:changed")
    assert "data/.wh.link" in names and "new/file" in names and "data/keep/n" in names
    # overlay keeps the directory's replacement (opaque); vfs lists what went from it
    assert ("data/keep/.wh..wh..opq" if driver == "overlay" else "data/keep/.wh.a") in names
    listing = ctr(
        "run",
        "--rm",
        "--storage-driver",
        driver,
        "zoo:changed",
        "ls /data/keep; cat /new/file; ls /data/link 2>&1; cat /data/hard",
    ).stdout
    assert listing == "n\nnew\nls: /data/link: No such file or directory\na\n"
    assert len(config["rootfs"]["diff_ids"]) == len(inspect(ctr, "zoo")["RootFS"]["Layers"]) + 1


def test_commit_configures_the_image_as_docker_does(ctr, bilge_root):
    cid = (
        ctr("run", "--name", "src", "-e", "KEEP=1", "busybox", "sh", "-c", "touch /marker").stdout
        or inspect(ctr, "src")["Id"]
    )
    changes = [
        'CMD ["x"]',
        'ENV A=1 B="two words"',
        "LABEL k=v",
        "WORKDIR sub",
        "EXPOSE 80 53/udp",
        "USER 5",
        "STOPSIGNAL SIGINT",
        "VOLUME /data",
    ]
    flags = [arg for change in changes for arg in ("-c", change)]
    image_id = ctr(
        "commit", *flags, "-m", "a message", "-a", "Ann Author <ann@example.com>", "src", "mine:v1"
    ).stdout.strip()

    image = inspect(ctr, "mine:v1")
    assert image["Id"] == image_id and image["Parent"] == inspect(ctr, "busybox")["Id"]
    assert image["Author"] == "Ann Author <ann@example.com>"
    assert image["Container"] == cid
    assert image["Comment"] == "a message"  # the history's: the config has none, Docker's inspect falls back
    config = image["Config"]
    assert config["Cmd"] == ["x"] and config["Entrypoint"] is None
    assert config["Env"] == [
        "KEEP=1",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "A=1",
        "B=two words",
    ]
    assert (config["Labels"], config["WorkingDir"], config["User"], config["StopSignal"]) == (
        {"k": "v"},
        "/sub",
        "5",
        "SIGINT",
    )
    assert config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}} and config["Volumes"] == {"/data": {}}
    assert image["ContainerConfig"]["Cmd"] == ["sh", "-c", "touch /marker"]  # the container's own config

    top = json.loads(ctr("history", "--format", "json", "mine:v1").stdout)[0]
    assert (top["Comment"], top["CreatedBy"], top["Size"]) == ("a message", "sh -c touch /marker", 0)
    raw = json.loads((bilge_root / "blobs" / "sha256" / image_id.removeprefix("sha256:")).read_bytes())
    assert list(raw) == sorted(raw)  # Docker sorts the top-level keys
    assert raw["history"][-1]["author"] == "Ann Author <ann@example.com>" and "empty_layer" not in raw["history"][-1]

    entry = inspect(ctr, ctr("commit", "-c", 'ENTRYPOINT ["/bin/echo"]', "src").stdout.strip())["Config"]
    assert entry["Entrypoint"] == ["/bin/echo"] and entry["Cmd"] is None  # as after a Dockerfile ENTRYPOINT
    kept = inspect(ctr, ctr("commit", "-c", "CMD y", "-c", "ENTRYPOINT /bin/echo", "src").stdout.strip())["Config"]
    assert kept["Cmd"] == ["/bin/sh", "-c", "y"] and kept["Entrypoint"] == ["/bin/sh", "-c", "/bin/echo"]


def test_nothing_changed_is_an_empty_layer(ctr, bilge_root):
    ctr("create", "--name", "pristine", "busybox")
    image_id = ctr("commit", "pristine", "same:v1").stdout.strip()
    assert inspect(ctr, "same:v1")["RootFS"] == inspect(ctr, "busybox")["RootFS"]
    raw = json.loads((bilge_root / "blobs" / "sha256" / image_id.removeprefix("sha256:")).read_bytes())
    assert raw["history"][-1]["empty_layer"] is True
    assert raw["history"][-1]["created_by"] == "/bin/sh"
    ctr("run", "--name", "ran", "busybox", "true")
    ran = inspect(ctr, ctr("commit", "ran").stdout.strip())
    assert ran["RootFS"] == inspect(ctr, "busybox")["RootFS"]  # running `true` writes nothing


def test_commit_of_a_running_container(ctr):
    ctr("run", "-d", "--name", "live", "busybox", "sh", "-c", "echo alive > /state; exec sleep 1000")
    deadline = time.monotonic() + 10
    while "A /state" not in ctr("diff", "live").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    ctr("commit", "live", "snap")
    assert inspect(ctr, "live")["State"]["Running"]  # paused for the commit, then resumed
    assert ctr("run", "--rm", "snap", "cat", "/state").stdout == "alive\n"


def test_bad_commits_change_nothing(ctr):
    ctr("create", "--name", "cc", "busybox")
    before = ctr("images", "-aq", "--no-trunc").stdout
    for args, message in [
        (("-c", "RUN echo hi", "cc"), "Error: RUN is not a valid change command\n"),
        (("-c", "EXPOSE http", "cc"), "Error: invalid port: http\n"),
        (("cc", "repo@sha256:" + "0" * 64), "Error: refusing to create a tag with a digest reference\n"),
        (("missing",), "Error: No such container: missing\n"),
    ]:
        failed = ctr("commit", *args, check=False)
        assert (failed.returncode, failed.stderr) == (1, message)
    assert ctr("images", "-aq", "--no-trunc").stdout == before
