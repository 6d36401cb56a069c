"""`run`, `create`, `start` and friends: Docker's flags and Docker's answers, under the real runc."""

from __future__ import annotations

import json
import os
import pty
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
from containers_support import inspect

from bilge.store.timeutil import rfc3339_nano


def test_exit_code_passes_through(ctr):
    assert ctr("run", "--rm", "busybox", "sh", "-c", "exit 3", check=False).returncode == 3
    assert ctr("run", "busybox", "sh", "-c", "exit 255", check=False).returncode == 255
    assert "Exited (255)" in ctr("ps", "-a").stdout


def test_flags_reach_the_process(ctr):
    out = ctr(
        "run",
        "--rm",
        "-e",
        "FOO=bar",
        "-e",
        "PATH=/bin",
        "-w",
        "/tmp",
        "-u",
        "1000:1001",
        "--hostname",
        "box",
        "busybox",
        "sh",
        "-c",
        "echo $FOO $PATH; pwd; id -u; id -g; hostname",
    ).stdout
    assert out.split("\n") == ["bar /bin", "/tmp", "1000", "1001", "box", ""]
    assert ctr("run", "--rm", "--entrypoint", "echo", "busybox", "hello", "world").stdout == "hello world\n"
    # -e NAME takes the value from bilge's environment, as docker does
    assert (
        ctr("run", "--rm", "-e", "FROM_HOST", "busybox", "sh", "-c", "echo $FROM_HOST", env={"FROM_HOST": "yes"}).stdout
        == "yes\n"
    )


def test_image_defaults_and_docker_env_rules(ctr):
    """zoo: ENTRYPOINT sh -c, CMD echo zoo, USER 1000:1000, WORKDIR /work, ENV ZOO=1."""
    assert ctr("run", "--rm", "zoo").stdout == "zoo\n"
    out = ctr("run", "--rm", "-e", "ZOO=2", "zoo", "echo $ZOO $(id -u) $(pwd) $HOSTNAME").stdout.split()
    assert out[:3] == ["2", "1000", "/work"] and len(out[3]) == 12
    config = inspect(ctr, ctr("create", "-e", "ZOO=2", "-l", "a=b", "zoo").stdout.strip())["Config"]
    assert config["Env"] == ["ZOO=2", "PATH=/usr/local/bin:/bin"]  # the flags first, then the image's rest
    assert config["Labels"] == {"org.example.purpose": "layer semantics zoo", "org.example.team": "storage", "a": "b"}
    assert config["Entrypoint"] == ["/bin/sh", "-c"] and config["Cmd"] == ["echo zoo"]
    reset = inspect(ctr, ctr("create", "--entrypoint", "/bin/echo", "zoo").stdout.strip())["Config"]
    assert reset["Entrypoint"] == ["/bin/echo"] and reset["Cmd"] is None  # a new entrypoint drops the image's CMD


def test_user_names_come_from_the_containers_passwd(ctr):
    ctr(
        "run",
        "--name",
        "adduser",
        "busybox",
        "sh",
        "-c",
        "echo 'app:x:1234:4321::/home/app:/bin/sh' > /etc/passwd && "
        "echo 'staff:x:50:app' > /etc/group && echo 'grp:x:77:' >> /etc/group",
    )
    ctr("commit", "adduser", "withuser")
    assert ctr("run", "--rm", "-u", "app", "withuser", "id").stdout == "uid=1234(app) gid=4321 groups=50(staff)\n"
    assert (
        ctr("run", "--rm", "-u", "app:grp", "withuser", "sh", "-c", "id -u; id -g; echo $HOME").stdout
        == "1234\n77\n/home/app\n"
    )
    missing = ctr("run", "--rm", "-u", "nobody", "withuser", "true", check=False)
    assert (missing.returncode, missing.stderr) == (
        1,
        "Error: unable to find user nobody: no matching entries in passwd file\n",
    )


def test_stdin_only_with_i(ctr):
    assert ctr("run", "--rm", "-i", "busybox", "cat", input="hello\n").stdout == "hello\n"
    assert ctr("run", "--rm", "busybox", "cat", input="hello\n").stdout == ""


def test_a_terminal_with_t(ctr):
    pid, fd = pty.fork()
    if pid == 0:  # the child: bilge on a terminal, as a user would type it
        os.execve(
            sys.executable,
            [sys.executable, "-m", "bilge", "run", "--rm", "-it", "busybox", "sh", "-c", "tty; echo $TERM; exit 5"],
            os.environ,
        )
    out = b""
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 5
    assert out.decode().split("\r\n")[:2] == ["/dev/pts/0", "xterm"]
    refused = ctr("run", "--rm", "-t", "busybox", "true", check=False)
    assert (refused.returncode, refused.stderr) == (1, "Error: the input device is not a TTY\n")


def test_a_command_that_cannot_start(ctr):
    failed = ctr("run", "--name", "broken", "busybox", "no-such-command", check=False)
    assert failed.returncode == 127
    assert failed.stderr.splitlines() == [
        'Error: runc run failed: unable to start container process: exec: "no-such-command": '
        "executable file not found in $PATH"
    ]
    state = inspect(ctr, "broken")["State"]
    assert (state["Status"], state["ExitCode"]) == ("created", 127)  # as Docker leaves it
    assert ctr("run", "--rm", "busybox", "/bin", check=False).returncode == 126
    assert ctr("run", "--rm", "busybox", "no-such-command", check=False).returncode == 127
    assert "broken" in ctr("ps", "-a", "--format", "csv").stdout and ctr("ps", "-aq").stdout.count("\n") == 1


def test_detached_lifecycle(ctr, bilge_root):
    cid = ctr(
        "run", "-d", "--name", "srv", "busybox", "sh", "-c", "echo started; echo oops >&2; exec sleep 1000"
    ).stdout.strip()
    assert len(cid) == 64
    assert ctr("start", "srv").stdout == "srv\n"  # already running: nothing to do, as docker
    log = bilge_root / "containers" / cid / "container.log"
    deadline = time.monotonic() + 10
    while sorted(log.read_text().splitlines()) != ["oops", "started"]:  # stdout and stderr, each as it came
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    assert ctr("kill", "-s", "TERM", "srv").stdout == "srv\n"  # pid 1 ignores TERM: still running
    time.sleep(0.3)
    assert inspect(ctr, "srv")["State"]["Running"]
    assert ctr("stop", "-t", "1", "srv").stdout == "srv\n"
    assert inspect(ctr, "srv")["State"]["ExitCode"] == 137
    not_running = ctr("kill", "srv", check=False)
    assert (not_running.returncode, not_running.stderr) == (
        1,
        f"Error: Cannot kill container: srv: Container {cid} is not running\n",
    )

    assert ctr("start", "srv").stdout == "srv\n"
    state = inspect(ctr, "srv")["State"]
    assert state["Running"] and state["ExitCode"] == 0
    assert ctr("kill", "srv").stdout == "srv\n"
    assert inspect(ctr, "srv")["State"]["ExitCode"] == 137


def test_detached_interactive_keeps_stdin_open(ctr):
    ctr("run", "-di", "--name", "shell", "busybox", "sh")
    time.sleep(0.5)
    assert inspect(ctr, "shell")["State"]["Running"]  # sh reads a stdin that never ends
    assert ctr("stop", "shell").stdout == "shell\n"


def test_start_attached_reruns_and_returns_the_code(ctr):
    ctr("create", "--name", "again", "busybox", "sh", "-c", "echo run; exit 7")
    assert ctr("start", "-a", "again", check=False).returncode == 7
    done = ctr("start", "-a", "again", check=False)
    assert (done.returncode, done.stdout) == (7, "run\n")


def test_networking(ctr):
    assert ctr("run", "--rm", "busybox", "ls", "/sys/class/net").stdout.split() == ["lo"]
    assert ctr("run", "--rm", "--network", "host", "busybox", "hostname").stdout.strip() == socket.gethostname()
    refused = ctr("run", "--rm", "--network", "bridge", "busybox", "true", check=False)
    assert refused.stderr == "Error: network 'bridge' is not supported (choose none or host)\n"


def test_names_and_ids(ctr):
    cid = ctr("create", "busybox").stdout.strip()
    name = inspect(ctr, cid)["Name"]
    assert name.startswith("/") and "_" in name
    assert inspect(ctr, cid[:8])["Id"] == cid
    ctr("create", "--name", "taken", "busybox")
    clash = ctr("create", "--name", "taken", "busybox", check=False)
    assert clash.returncode == 1 and clash.stderr.startswith(
        'Error: Conflict. The container name "/taken" is already in use'
    )
    assert ctr("create", "--name", "bad name!", "busybox", check=False).stderr.startswith(
        "Error: Invalid container name"
    )
    missing = ctr("start", "nothing-here", check=False)
    assert (missing.returncode, missing.stderr) == (1, "Error: No such container: nothing-here\n")


def test_ps_filters_and_formats(ctr):
    ctr("create", "--name", "labelled", "-l", "tier=web", "busybox")
    ctr("run", "--name", "done", "busybox", "true")
    ctr("run", "-d", "--name", "up", "busybox", "sleep", "1000")
    ctr("run", "--name", "hello", "busybox", "sh", "-c", "touch /x")
    ctr("commit", "hello", "busybox:hello")
    ctr("create", "--name", "child", "busybox:hello")
    ctr("create", "--name", "other", "app:v1")

    def names(*args: str) -> list[str]:
        return sorted(row["Names"] for row in json.loads(ctr("ps", "--format", "json", *args).stdout))

    assert names() == ["up"]
    assert names("-a", "--filter", "status=exited") == ["done", "hello"]
    assert names("--filter", "status=created") == ["child", "labelled", "other"]
    assert names("-a", "--filter", "label=tier") == ["labelled"]
    assert names("-a", "--filter", "label=tier=db") == []
    assert names("-a", "--filter", "ancestor=busybox") == ["child", "done", "hello", "labelled", "up"]
    assert names("-a", "--filter", "ancestor=busybox:hello") == ["child"]
    assert names("-a", "--filter", "name=hel", "--filter", "status=exited") == ["hello"]
    assert len(ctr("ps", "-q").stdout.split()[0]) == 12
    assert len(ctr("ps", "-q", "--no-trunc").stdout.split()[0]) == 64
    bad = ctr("ps", "--filter", "colour=red", check=False)
    assert bad.returncode == 1 and bad.stderr.startswith("Error: invalid filter 'colour=red'")
    table = ctr("ps", "-a").stdout.splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    assert ctr("container", "ls", "-aq").stdout == ctr("ps", "-aq").stdout


def test_inspect_finds_images_then_containers(ctr):
    ctr("create", "--name", "box", "busybox")
    assert inspect(ctr, "box")["Name"] == "/box"
    assert inspect(ctr, "busybox")["RepoTags"] == ["busybox:latest"]  # an image's name is an image
    both = ctr("inspect", "busybox", "box").stdout
    assert '"RepoTags"' in both and '"/box"' in both
    assert "SizeRw" in ctr("container", "inspect", "-s", "box").stdout
    missing = ctr("inspect", "nothing", check=False)
    assert (missing.returncode, missing.stderr) == (1, "Error: No such object: nothing\n")


def test_create_and_run_record_last_use(ctr, bilge_root):
    def last_used(image_id: str) -> float | None:
        with sqlite3.connect(bilge_root / "bilge.db") as db:
            return db.execute("SELECT last_used FROM images WHERE id = ?", [image_id]).fetchone()[0]

    busybox, app = inspect(ctr, "busybox")["Id"], inspect(ctr, "app:v1")["Id"]
    assert last_used(busybox) is None
    before = time.time()
    ctr("run", "--rm", "busybox", "true")
    ctr("create", "app:v1")
    assert last_used(busybox) >= before and last_used(app) >= before
    # what a user sees: images' LastUsedAt field, system df -v's LAST USED column
    listed = {
        (r["Repository"], r["Tag"]): r["LastUsedAt"] for r in json.loads(ctr("images", "--format", "json").stdout)
    }
    used = rfc3339_nano(last_used(busybox))
    assert listed[("busybox", "latest")] == used and listed[("zoo", "latest")] is None
    assert "LAST" not in ctr("images").stdout.splitlines()[0]  # Docker's table is Docker's
    df = ctr("system", "df", "-v").stdout.splitlines()
    assert df[2].split()[-2:] == ["LAST", "USED"]
    rows = {line.split()[0]: line for line in df[3:] if line.strip()}
    assert rows["busybox"].endswith(" ago") and rows["zoo"].endswith(" never"), df


def test_images_in_use_cannot_be_removed(ctr):
    cid = ctr("create", "--name", "user", "app:v1").stdout.strip()
    image = inspect(ctr, "app:v1")["Id"]
    refused = ctr("rmi", "app:v1", check=False)
    assert (refused.returncode, refused.stdout, refused.stderr) == (
        1,
        "",
        f'Error: conflict: unable to remove repository reference "app:v1" (must force) - container {cid[:12]} '
        f"is using its referenced image {image[7:19]}\n",
    )
    refused = ctr("rmi", image[7:19], check=False)
    assert refused.stderr == (
        f"Error: conflict: unable to delete {image[7:19]} (must be forced) - image is being used by stopped "
        f"container {cid[:12]}\n"
    )
    # forced, the name goes and the image stays while its container does (Docker 20.10 would
    # delete it, Untagged then Deleted, and leave the container naming a missing image)
    assert ctr("rmi", "-f", "app:v1").stdout == "Untagged: app:v1\n"
    assert inspect(ctr, image[7:19])["RepoTags"] == []
    ctr("rm", "user")
    assert ctr("rmi", image[7:19]).stdout.startswith(f"Deleted: {image}\n")


def test_rmi_refuses_in_dockers_words(ctr, dockerd):
    """The same refusal from the suite's dockerd and from bilge, container IDs aside: one image
    with one name, loaded into both, a container created from it in each."""
    from bilge.fabricate import Image, docker_archive, layer_tar

    archive = docker_archive(
        [Image(["everyday-rmi:1"], [layer_tar("rmi", {"bin/x": 10})], "2026-01-01T00:00:00Z", {"test": "rmi"})]
    )
    ids = []
    for run in (dockerd.docker, ctr):
        run("load", input=archive, binary=True)
        ids.append(run("create", "everyday-rmi:1", "true").stdout.strip())
    try:
        theirs = dockerd.docker("rmi", "everyday-rmi:1", check=False)
        ours = ctr("rmi", "everyday-rmi:1", check=False)
    finally:
        dockerd.docker("rm", ids[0])
        dockerd.docker("rmi", "everyday-rmi:1")
    assert theirs.returncode == ours.returncode == 1
    assert "conflict: unable to remove repository reference" in theirs.stderr
    assert theirs.stderr.replace(ids[0][:12], "<container>") == ours.stderr.replace(ids[1][:12], "<container>").replace(
        "Error: ", "Error response from daemon: "
    )


@pytest.mark.parametrize(
    "runtime,expected",
    [
        (
            "no-such-runtime",
            "Error: OCI runtime 'no-such-runtime' not found: install runc (Debian/Ubuntu: apt-get install runc) "
            "or crun, or pass --runtime PATH\n",
        ),
    ],
)
def test_a_missing_runtime_is_named(ctr, bilge_root, runtime, expected):
    failed = ctr("run", "--runtime", runtime, "busybox", "true", check=False)
    assert (failed.returncode, failed.stderr) == (1, expected)
    assert os.listdir(bilge_root / "containers") == []


def test_no_runtime_at_all_says_what_to_install(tmp_path):
    from bilge.store.containers.runtime import RuntimeMissing, find

    with pytest.raises(
        RuntimeMissing,
        match=r"^no OCI runtime found to run containers: install runc \(Debian/Ubuntu: "
        r"apt-get install runc\) or crun$",
    ):
        find(None, search=str(tmp_path))


def _wait_for(check, what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_detached_rm_removes_itself(ctr, bilge_root):
    ctr("run", "-d", "--rm", "busybox", "true")
    _wait_for(lambda: ctr("ps", "-aq").stdout == "" and os.listdir(bilge_root / "containers") == [], "auto-removed")


def test_the_exit_code_survives_a_killed_runtime(ctr):
    """The shim is a subreaper: with runc gone, it waits for the container itself."""
    import psutil

    ctr("run", "-d", "--name", "orphan", "busybox", "sleep", "1000")
    pid = inspect(ctr, "orphan")["State"]["Pid"]
    runtime = psutil.Process(pid).parent()
    assert runtime.name() == "runc"
    runtime.kill()
    runtime.wait(10)
    assert inspect(ctr, "orphan")["State"]["Running"]  # the container outlives its runtime
    ctr("stop", "-t", "1", "orphan")
    state = inspect(ctr, "orphan")["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 137)
    assert ctr("start", "orphan").stdout == "orphan\n"  # the dead runtime's record was cleared
    assert inspect(ctr, "orphan")["State"]["Running"]


def test_a_container_nobody_watched_is_found_exited(ctr, bilge_root):
    """Shim and all gone: the next command finds the process dead and says so (code unknown: 255)."""
    import psutil

    cid = ctr("run", "-d", "--name", "unwatched", "busybox", "sleep", "1000").stdout.strip()
    shim = psutil.Process(int((bilge_root / "containers" / cid / "shim.pid").read_text()))
    shim.kill()
    shim.wait(10)
    os.kill(inspect(ctr, "unwatched")["State"]["Pid"], 9)
    _wait_for(lambda: "Exited (255)" in ctr("ps", "-a").stdout, "found exited")
    assert inspect(ctr, "unwatched")["State"]["Status"] == "exited"
    ctr("rm", "unwatched")


def test_a_relative_store_root_runs_containers(ctr, bilge_root):
    """runc and the overlay mount get whole paths even when --root was given relative to the cwd."""
    cmd = [sys.executable, "-m", "bilge", "--root", bilge_root.name, "run", "--rm", "busybox", "echo", "relative"]
    result = subprocess.run(cmd, cwd=bilge_root.parent, capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (0, "relative\n", "")
