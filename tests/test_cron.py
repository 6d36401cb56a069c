"""Scheduled prune with the real parts: Debian's cron daemon runs what `bilge cron install` put
in root's crontab, `crontab` edits it, the entry's command runs under `env -i` as cron runs it,
`systemd-analyze` checks the units and their OnCalendar, `flock` holds the run lock, and a
SIGKILL lands in the middle of a run's sweep.

Root's crontab is saved before a test that installs into it and put back afterwards.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from components import require

from bilge.cron.install import MARK, find_entry
from bilge.cron.schedule import next_runs, on_calendar
from bilge.fabricate import Image, docker_archive, layer_tar
from bilge.store.core import Store

FIXTURE = "docker/images.tar.gz"
# The fixture's tags, and what a policy that keeps app and busybox leaves.
KEPT = {"app:latest", "app:v2", "app:v1", "busybox:latest"}
ISSUE_EXAMPLE = (Path(__file__).parent / "cron-issue-13-policy.toml").read_text()
POLICY = '[prune]\nimages = "unused"\nexclude = ["app", "busybox:*"]\n'


def _bilge_cmd(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "bilge", "--root", str(root), *args]


def images(bilge) -> dict[str, set[str]]:
    """image ID -> its repo:tag names, every image (dangling ones too)."""
    rows = json.loads(bilge("images", "-a", "--no-trunc", "--format", "json").stdout)
    found: dict[str, set[str]] = {}
    for row in rows:
        names = found.setdefault(row["ID"], set())
        if row["Tag"] != "<none>":
            names.add(f"{row['Repository']}:{row['Tag']}")
    return found


def runs(root: Path) -> list[dict]:
    path = root / "cron" / "runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    return path


@pytest.fixture
def fixture_store(bilge, fixtures_dir: Path) -> dict[str, set[str]]:
    """The shared fixture's images loaded; returns what `images` lists, and the IDs the policy takes."""
    bilge("load", "-i", fixtures_dir / FIXTURE)
    return images(bilge)


def doomed_ids(listing: dict[str, set[str]]) -> set[str]:
    return {image_id for image_id, names in listing.items() if not names & KEPT}


@pytest.fixture
def root_crontab() -> Iterator[str]:
    """Root's crontab as it was (or ""), restored at teardown."""
    crontab = require("crontab", "to install a schedule in a user's crontab (Debian package cron)")
    if os.geteuid() != 0:
        pytest.skip("the tests install into root's crontab")
    before = subprocess.run([crontab, "-l"], capture_output=True, text=True)
    saved = before.stdout if before.returncode == 0 else None
    yield saved or ""
    if saved is None:
        subprocess.run([crontab, "-r"], capture_output=True)
    else:
        subprocess.run([crontab, "-"], input=saved, text=True, check=True)


def crontab_text() -> str:
    proc = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else ""


@pytest.fixture
def cron_daemon(tmp_path: Path) -> Iterator[None]:
    """Debian's cron daemon, in the foreground as our child (one already running is used as it is)."""
    cron = require("cron", "to run the installed schedule (Debian package cron)")
    import psutil

    if any(p.info["name"] == "cron" for p in psutil.process_iter(["name"])):
        yield
        return
    log = (tmp_path / "cron.log").open("wb")
    daemon = subprocess.Popen([cron, "-f"], stdout=log, stderr=subprocess.STDOUT)
    time.sleep(0.5)
    assert daemon.poll() is None, f"cron -f exited {daemon.returncode}: {(tmp_path / 'cron.log').read_text()}"
    try:
        yield
    finally:
        os.kill(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(daemon.pid, signal.SIGKILL)
            daemon.wait()
        log.close()


@pytest.fixture
def cron_d() -> Iterator[Path]:
    """/etc/cron.d/bilge as it was (absent, usually), restored at teardown."""
    from bilge.cron.install import CRON_D, systemd_runs

    if os.geteuid() != 0:
        pytest.skip("writing /etc/cron.d needs root")
    if systemd_runs():
        pytest.skip("systemd runs here, so --system installs systemd units rather than /etc/cron.d/bilge")
    saved = CRON_D.read_bytes() if CRON_D.exists() else None
    yield CRON_D
    if saved is None:
        CRON_D.unlink(missing_ok=True)
    else:
        CRON_D.write_bytes(saved)


@pytest.mark.parametrize("flavour", ["user crontab", "/etc/cron.d"])
def test_the_cron_daemon_runs_the_installed_schedule(
    bilge, bilge_root: Path, fixture_store, tmp_path: Path, cron_daemon: None, request, flavour: str
) -> None:
    """A one-minute schedule installed with `cron install` (into root's crontab, or with --system
    into /etc/cron.d) is run by the real daemon, which prunes what the policy says (every unused
    image but app's and busybox's) and nothing else, and leaves the metrics and report the policy names."""
    metrics, report = tmp_path / "textfile" / "bilge.prom", tmp_path / "report.html"
    metrics.parent.mkdir()
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY + f'[output]\nmetrics = "{metrics}"\nreport = "{report}"\n')
    system = flavour == "/etc/cron.d"
    where = request.getfixturevalue("cron_d" if system else "root_crontab")
    installed = time.time()
    bilge("cron", "install", "--schedule", "* * * * *", "--policy", policy, *(["--system"] if system else []))
    line = find_entry(where.read_text() if system else crontab_text())
    assert line is not None
    words = shlex.split(line)
    assert words[5:6] == (["root"] if system else [words[5]])
    assert words[6 if system else 5 :] == [
        str(Path(sys.executable).parent / "bilge"),
        "--root",
        str(bilge_root),
        "cron",
        "run",
        "--policy",
        str(policy),
        ">/dev/null",
    ]
    while not runs(bilge_root) and time.time() - installed < 75:
        time.sleep(1)
    assert runs(bilge_root), "cron ran no bilge cron run within 75 s of the install"
    [record] = runs(bilge_root)
    assert record["exit_code"] == 0, record["error"]
    assert set(record["plan"]["images"]) == doomed_ids(fixture_store) and len(record["plan"]["images"]) == 5
    left = images(bilge)
    assert set().union(*left.values()) == KEPT and set(left) == set(fixture_store) - doomed_ids(fixture_store)
    assert record["freed_bytes"] > 0 and record["gc_run"] is not None
    bilge("check")
    assert f"bilge_images {len(left)}\n" in metrics.read_text()
    assert report.read_text().lstrip().lower().startswith("<!doctype html")
    shown = bilge("cron", "show", *(["--system"] if system else [])).stdout
    assert "next runs:" in shown and "last run:" in shown and "exit 0" in shown
    assert "pruned:  0 containers, 5 images, 0 build cache entries" in shown
    assert f"({record['freed_bytes']} bytes;" in shown
    bilge("cron", "remove", *(["--system"] if system else []))
    assert find_entry(where.read_text() if system and where.exists() else crontab_text()) is None


def test_the_crontab_line_runs_under_env_i(
    bilge, bilge_root: Path, fixture_store, policy: Path, root_crontab: str
) -> None:
    """The entry's command, run as cron runs it (no environment at all, /bin/sh, another working
    directory), finds its store and policy and prunes."""
    bilge("cron", "install", "--schedule", "@hourly", "--policy", policy)
    line = find_entry(crontab_text()) or ""
    command = line.split(None, 1)[1]
    proc = subprocess.run(["env", "-i", "/bin/sh", "-c", command], cwd="/", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == "", "the summary goes to /dev/null, the run log and syslog"
    [record] = runs(bilge_root)
    assert record["exit_code"] == 0 and set(record["plan"]["images"]) == doomed_ids(fixture_store)


def test_install_twice_leaves_one_entry_and_remove_keeps_the_users_lines(
    bilge, policy: Path, root_crontab: str
) -> None:
    theirs = "# my jobs\nMAILTO=root\n0 1 * * * /bin/true nightly\n"
    subprocess.run(["crontab", "-"], input=theirs, text=True, check=True)
    bilge("cron", "install", "--schedule", "*/5 * * * *", "--policy", policy)
    bilge("cron", "install", "--schedule", "17 3 * * *", "--policy", policy)
    text = crontab_text()
    assert text.startswith(theirs) and text.count(MARK) == 1 and text.count("cron run") == 1
    assert (find_entry(text) or "").startswith("17 3 * * * ")
    assert "17 3 * * *" in bilge("cron", "show").stdout
    assert bilge("cron", "remove").stdout.strip() == "removed from user crontab"
    assert crontab_text() == theirs
    assert bilge("cron", "remove").stdout.strip() == "no bilge entry in user crontab"


def test_remove_of_the_only_entry_leaves_no_crontab(bilge, policy: Path, root_crontab: str) -> None:
    subprocess.run(["crontab", "-r"], capture_output=True)
    bilge("cron", "install", "--policy", policy)
    bilge("cron", "remove")
    proc = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    assert proc.returncode == 1 and "no crontab" in proc.stderr


def test_install_refuses_a_bad_policy_or_schedule_and_changes_nothing(bilge, tmp_path: Path, root_crontab: str) -> None:
    before = crontab_text()
    bad = tmp_path / "bad.toml"
    bad.write_text("[prune]\nimages = 'dangling'\nmax_size = '20XB'\n")
    proc = bilge("cron", "install", "--policy", bad, check=False)
    assert proc.returncode == 2 and f"{bad}:3: prune.max_size: invalid size '20XB'" in proc.stderr
    proc = bilge("cron", "install", "--schedule", "* * * * * *", "--policy", bad, check=False)
    assert proc.returncode == 1 and "invalid schedule '* * * * * *'" in proc.stderr
    assert crontab_text() == before


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (("max_size", "maxsize"), ":8: prune.maxsize: unknown key 'maxsize' (did you mean 'max_size'?)"),
        (('"20GB"', '"20 gigs"'), ":8: prune.max_size: invalid size '20 gigs'"),
        (("low = 80", "low = 85"), ":10: prune.low: low (85) must be below high (85)"),
    ],
    ids=["typo", "bad size", "low >= high"],
)
def test_check_policy_and_run_reject_a_bad_policy_naming_key_and_line(
    bilge, bilge_root: Path, tmp_path: Path, edit: tuple[str, str], problem: str
) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(ISSUE_EXAMPLE.replace(*edit))
    checked = bilge("cron", "check-policy", path, check=False)
    assert checked.returncode == 2 and checked.stderr.startswith(f"{path}{problem}")
    ran = bilge("cron", "run", "--policy", path, check=False)
    assert ran.returncode == 2 and f"{path}{problem}" in ran.stderr
    [record] = runs(bilge_root)
    assert record["exit_code"] == 2 and problem in record["error"]


def test_check_policy_accepts_the_issues_example(bilge, tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(ISSUE_EXAMPLE)
    assert (
        bilge("cron", "check-policy", path).stdout.strip()
        == f"{path}: ok: prunes containers, dangling images, build cache"
    )


def many_images(bilge, tmp_path: Path, count: int) -> None:
    """`keep:1` and `count` one-layer images `doomed:N`, loaded."""
    archive = tmp_path / "many.tar"
    keep = Image(["keep:1"], [layer_tar("keep", {f"k/{i}": 10 for i in range(50)})])
    doomed = [Image([f"doomed:{n}"], [layer_tar(f"d{n}", {f"d/{i}": 10 for i in range(40)})]) for n in range(count)]
    archive.write_bytes(docker_archive([keep, *doomed]))
    bilge("load", "-i", archive)


def test_two_runs_together_one_runs_the_other_exits_at_once(bilge, bilge_root: Path, tmp_path: Path) -> None:
    """The first run is stopped (SIGSTOP) once it holds the lock, so the second surely meets it
    mid-run however fast the machine; continued, the first completes."""
    many_images(bilge, tmp_path, 100)
    path = tmp_path / "policy.toml"
    path.write_text('[prune]\nimages = "unused"\nexclude = ["keep"]\n')
    first = subprocess.Popen(
        _bilge_cmd(bilge_root, "cron", "run", "--policy", str(path)), stdout=subprocess.PIPE, text=True
    )
    lock = bilge_root / "cron" / "run.lock"
    deadline = time.time() + 60
    while (
        first.poll() is None
        and time.time() < deadline
        and (not lock.exists() or lock.read_text().strip() != str(first.pid))
    ):
        time.sleep(0.001)
    os.kill(first.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        second = bilge("cron", "run", "--policy", path, check=False)
        waited = time.monotonic() - started
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, _ = first.communicate(timeout=300)
    assert second.returncode == 2 and second.stdout == "" and waited < 30
    assert (
        second.stderr.strip()
        == f"bilge cron run: skipped: another bilge cron run (pid {first.pid}) holds {lock}; this run exits"
    )
    assert first.returncode == 0 and out.startswith("bilge cron run: ok: pruned 0 containers, 100 images")
    [record] = runs(bilge_root)
    assert record["exit_code"] == 0 and len(record["plan"]["images"]) == 100
    assert set().union(*images(bilge).values()) == {"keep:1"}


def test_a_lock_held_by_flock_makes_a_run_exit_at_once(bilge, bilge_root: Path, policy: Path) -> None:
    """The lock is flock(2), so util-linux's flock(1) holds it too; the run does not wait."""
    flock = require("flock", "to hold the run lock from outside (Debian package util-linux)")
    Store(bilge_root).close()  # a run refuses a store that is not there
    lock = bilge_root / "cron" / "run.lock"
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen([flock, str(lock), "sleep", "120"], start_new_session=True)  # sleep holds it too
    try:
        deadline = time.time() + 10
        while subprocess.run([flock, "-n", str(lock), "true"]).returncode == 0 and time.time() < deadline:
            time.sleep(0.05)
        started = time.monotonic()
        proc = bilge("cron", "run", "--policy", policy, check=False)
        waited = time.monotonic() - started
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    assert proc.returncode == 2 and f"holds {lock}; this run exits" in proc.stderr
    assert waited < 30, f"the run waited {waited:.0f} s for the lock"
    assert runs(bilge_root) == []
    assert bilge("cron", "run", "--policy", policy).returncode == 0, "free again once the holder is gone"


def test_a_run_killed_mid_sweep_leaves_a_consistent_store_and_the_next_completes(
    bilge, bilge_root: Path, tmp_path: Path
) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[prune]\nimages = "unused"\nexclude = ["keep:*"]\n')
    run = _bilge_cmd(bilge_root, "cron", "run", "--policy", str(path))
    landed = 0
    for _ in range(3):
        many_images(bilge, tmp_path, 100)
        proc = subprocess.Popen(run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        trash = bilge_root / "trash"
        while proc.poll() is None and not (trash.exists() and any(p.name.startswith(".del-") for p in trash.iterdir())):
            time.sleep(0.0005)
        killed = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        landed += killed
        check = bilge("check", check=False)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "keep:1" in set().union(*images(bilge).values())
    assert landed >= 2, f"only {landed} of 3 kills landed mid-sweep"
    done = bilge("cron", "run", "--policy", path)
    assert done.stdout.startswith("bilge cron run: ok:")
    assert set().union(*images(bilge).values()) == {"keep:1"}
    assert runs(bilge_root)[-1]["exit_code"] == 0
    bilge("check")


SCHEDULES = ["* * * * *", "17 3 * * *", "*/15 2 * * 1-5", "0 3 1,15 * sun", "30 4 * jan,jul 7", "@weekly"]


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    return require("systemd-analyze", "to verify the systemd units (Debian package systemd)")


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_the_systemd_units_pass_verify_and_fire_when_cron_would(
    bilge, tmp_path: Path, policy: Path, systemd_analyze: str, schedule: str
) -> None:
    units = tmp_path / "units"
    bilge("cron", "install", "--schedule", schedule, "--policy", policy, "--systemd-dir", units)
    assert sorted(p.name for p in units.iterdir()) == ["bilge-prune.service", "bilge-prune.timer"]
    verify = subprocess.run(
        [systemd_analyze, "verify", units / "bilge-prune.timer", units / "bilge-prune.service"],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    timer = (units / "bilge-prune.timer").read_text()
    values = re.findall(r"^OnCalendar=(.*)$", timer, re.M)
    assert values == on_calendar(schedule)
    elapses = []
    for value in values:
        proc = subprocess.run([systemd_analyze, "calendar", value], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        found = re.search(r"Next elapse: \w+ (\S+ \S+)", proc.stdout)
        assert found, proc.stdout
        elapses.append(found.group(1))
    # systemd's next elapse is cron's next run (systemd-analyze prints local time)
    want = next_runs(schedule, datetime.now().astimezone())[0].strftime("%Y-%m-%d %H:%M:%S")
    assert min(elapses) == want or time.localtime().tm_sec >= 59, (elapses, want)
    shown = bilge("cron", "show", "--systemd-dir", units).stdout
    assert f"schedule:  {schedule}" in shown and "next runs:" in shown
    bilge("cron", "remove", "--systemd-dir", units)
    assert not list(units.iterdir())


def test_systemd_analyze_verify_does_reject_a_broken_unit(tmp_path: Path, systemd_analyze: str) -> None:
    """The check above can fail: a relative ExecStart is refused."""
    service = tmp_path / "broken.service"
    service.write_text("[Service]\nType=oneshot\nExecStart=bin/bilge cron run\n")
    assert subprocess.run([systemd_analyze, "verify", service], capture_output=True).returncode != 0


def test_the_summary_goes_to_syslog(bilge, bilge_root: Path, policy: Path) -> None:
    """A datagram socket at /dev/log stands where a syslog daemon listens and reads the line."""
    if os.path.exists("/dev/log"):
        pytest.skip("a syslog daemon owns /dev/log; its log is not ours to read")
    if os.geteuid() != 0:
        pytest.skip("binding /dev/log needs root")
    Store(bilge_root).close()  # a run refuses a store that is not there
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        listener.bind("/dev/log")
        listener.settimeout(30)
        proc = bilge("cron", "run", "--policy", policy)
        message = listener.recv(4096).decode()
    finally:
        listener.close()
        os.unlink("/dev/log")
    # <PRI> with facility cron (9) and severity info (6): 9 * 8 + 6 = 78; then glibc's time stamp and tag
    assert re.match(r"<78>\w{3} [ \d]\d \d\d:\d\d:\d\d bilge\[\d+\]: ", message), message
    assert proc.stdout.strip() in message


def test_show_without_an_entry_or_a_run(bilge, root_crontab: str, tmp_path: Path) -> None:
    subprocess.run(["crontab", "-r"], capture_output=True)
    assert bilge("cron", "show").stdout == "no bilge entry in user crontab\nlast run:  none recorded\n"
    units = bilge("cron", "show", "--systemd-dir", tmp_path).stdout
    assert units.startswith(f"no bilge entry in {tmp_path}\n")
