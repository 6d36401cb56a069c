"""The installed entry: our marked crontab block (replaced on a second install, removed alone),
the command it runs by absolute paths, and the systemd units filled from the templates."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from bilge.cron.install import (
    MARK,
    CronD,
    SystemdUnits,
    UserCrontab,
    crontab_block,
    find_entry,
    root_of,
    run_command,
    schedule_of,
    target,
    with_entry,
    without_entry,
)

THEIRS = "# m h dom mon dow command\nMAILTO=ops@example.com\n0 1 * * * /usr/local/bin/backup --all\n\n# the end\n"
COMMAND = ["/opt/bilge/bin/bilge", "--root", "/srv/bilge", "cron", "run", "--policy", "/etc/bilge/policy.toml"]


def test_the_block_is_the_mark_and_one_line() -> None:
    block = crontab_block("*/5 * * * *", COMMAND)
    mark, line = block.splitlines()
    assert mark.startswith(MARK)
    assert line == "*/5 * * * * " + shlex.join(COMMAND) + " >/dev/null"


def test_a_system_entry_names_its_user() -> None:
    assert crontab_block("@daily", COMMAND, user="root").splitlines()[1].startswith("@daily root /opt/bilge")


def test_percent_signs_are_escaped_for_cron() -> None:
    line = crontab_block("@daily", ["/b/bilge", "--root", "/srv/100%"]).splitlines()[1]
    assert "/srv/100\\%" in line and root_of(line.split(None, 1)[1]) == Path("/srv/100%")


def test_installing_twice_leaves_one_entry_and_the_users_lines() -> None:
    once = with_entry(THEIRS, crontab_block("* * * * *", COMMAND))
    twice = with_entry(once, crontab_block("17 3 * * *", COMMAND))
    assert twice.count(MARK) == 1 and twice.startswith(THEIRS)
    assert find_entry(twice) == "17 3 * * * " + shlex.join(COMMAND) + " >/dev/null"


def test_removing_takes_exactly_ours() -> None:
    middle = THEIRS + crontab_block("* * * * *", COMMAND) + "30 2 * * * /bin/true\n"
    assert without_entry(middle) == THEIRS + "30 2 * * * /bin/true\n"
    assert without_entry(THEIRS) == THEIRS


def test_a_crontab_without_a_final_newline_keeps_its_last_line() -> None:
    assert with_entry("0 1 * * * /bin/true", crontab_block("@hourly", COMMAND)).startswith("0 1 * * * /bin/true\n#")


def test_into_an_empty_crontab() -> None:
    block = crontab_block("@hourly", COMMAND)
    assert with_entry("", block) == block and find_entry("") is None


def test_schedule_and_root_are_read_back_from_the_line() -> None:
    line = find_entry(crontab_block("*/5 2 * * 1-5", COMMAND)) or ""
    assert schedule_of(line) == "*/5 2 * * 1-5"
    assert schedule_of("@daily root /b/bilge") == "@daily"
    assert root_of(shlex.join(COMMAND)) == Path("/srv/bilge")
    assert root_of("/b/bilge cron run") is None


def test_the_command_names_this_bilge_and_absolute_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    command = run_command(Path("store"), Path("policy.toml"))
    assert Path(command[0]).is_absolute() and Path(command[0]).exists()
    assert command[-6:] == ["--root", str(tmp_path / "store"), "cron", "run", "--policy", str(tmp_path / "policy.toml")]


def test_systemd_units_from_the_templates(tmp_path: Path) -> None:
    units = SystemdUnits(tmp_path, enable=False)
    units.install("0 3 1,15 * sun", [*COMMAND[:-1], "/etc/bilge/50%.toml"])
    service = (tmp_path / "bilge-prune.service").read_text()
    timer = (tmp_path / "bilge-prune.timer").read_text()
    assert "ExecStart=/opt/bilge/bin/bilge --root /srv/bilge cron run --policy /etc/bilge/50%%.toml\n" in service
    assert "OnCalendar=*-*-01,15 03:00:00\nOnCalendar=Sun *-*-* 03:00:00\n" in timer
    found = units.installed()
    assert found is not None and (found.schedule, found.root) == ("0 3 1,15 * sun", Path("/srv/bilge"))
    assert found.line.endswith("/etc/bilge/50%.toml")


def test_systemd_remove_takes_only_marked_units(tmp_path: Path) -> None:
    (tmp_path / "bilge-prune.timer").write_text("[Timer]\nOnCalendar=daily\n")  # someone else's
    units = SystemdUnits(tmp_path, enable=False)
    assert not units.remove() and (tmp_path / "bilge-prune.timer").exists()
    units.install("@daily", COMMAND)
    assert units.remove() and not list(tmp_path.iterdir())


def test_cron_d_is_written_whole_and_removed(tmp_path: Path) -> None:
    cron_d = CronD(tmp_path / "bilge")
    cron_d.install("@hourly", COMMAND)
    cron_d.install("*/10 * * * *", COMMAND)
    assert [p.name for p in tmp_path.iterdir()] == ["bilge"]
    found = cron_d.installed()
    assert found is not None and found.schedule == "*/10 * * * *" and " root /opt/bilge" in found.line
    assert found.root == Path("/srv/bilge")
    assert oct((tmp_path / "bilge").stat().st_mode & 0o777) == "0o644"
    assert cron_d.remove() and not cron_d.remove()


def test_where_each_flag_installs(tmp_path: Path) -> None:
    assert isinstance(target(False, None), UserCrontab)
    chosen = target(True, tmp_path)
    assert isinstance(chosen, SystemdUnits) and not chosen.enable
