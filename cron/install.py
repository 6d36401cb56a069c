"""Where a schedule is installed: the user's crontab (through the `crontab` program),
/etc/cron.d/bilge, or a systemd service and timer, each filled from the templates beside this
module. Every entry carries the `# bilge-prune:` mark, so installing again replaces ours and
removing takes exactly ours, whatever else the crontab holds.

The entry names everything by absolute path (this bilge, the store root, the policy): cron
starts it with a bare environment, another HOME and a PATH of /usr/bin:/bin.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template

from bilge.store.errors import BilgeError

from .schedule import on_calendar

MARK = "# bilge-prune:"
CRON_D = Path("/etc/cron.d/bilge")
SYSTEM_UNITS = Path("/etc/systemd/system")
SERVICE, TIMER = "bilge-prune.service", "bilge-prune.timer"


@dataclass(frozen=True)
class Installed:
    """An entry found installed: where, its schedule, its line (or ExecStart), the store root it prunes."""

    where: str
    schedule: str
    line: str
    root: Path | None


def template(name: str) -> Template:
    return Template((Path(__file__).parent / name).read_text())


def bilge_command() -> list[str]:
    """This bilge, by absolute path: the script beside this interpreter (a venv's or an install's
    bin/), else the interpreter running the package."""
    script = Path(sys.executable).parent / "bilge"
    if os.access(script, os.X_OK):
        return [str(script.absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "bilge"]


def run_command(root: Path, policy: Path) -> list[str]:
    return [*bilge_command(), "--root", str(root.absolute()), "cron", "run", "--policy", str(policy.absolute())]


def crontab_block(schedule: str, command: list[str], user: str | None = None) -> str:
    """Our two lines: the mark, then the entry. cron reads `%` as a newline, so it is escaped;
    stdout (the summary, also in syslog and the run log) is dropped, stderr (a failure) is mailed."""
    line = shlex.join(command).replace("%", "\\%") + " >/dev/null"
    return template("bilge.crontab").substitute(schedule=schedule, user=f" {user}" if user else "", command=line)


def with_entry(text: str, block: str) -> str:
    """The crontab `text` with our entry replaced by `block` (or `block` added)."""
    kept = without_entry(text)
    return kept + ("\n" if kept and not kept.endswith("\n") else "") + block


def without_entry(text: str) -> str:
    """The crontab `text` without our mark and the entry line that follows it."""
    lines = text.splitlines(keepends=True)
    kept, skip = [], False
    for line in lines:
        if line.startswith(MARK):
            skip = True
            continue
        if skip and line.strip() and not line.lstrip().startswith("#"):
            skip = False
            continue
        skip = False
        kept.append(line)
    return "".join(kept)


def find_entry(text: str) -> str | None:
    """Our entry line in a crontab's text."""
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith(MARK):
            return lines[i + 1]
    return None


def schedule_of(line: str) -> str:
    """The schedule at the head of a crontab line (five fields or an @macro)."""
    words = line.split()
    return words[0] if words[0].startswith("@") else " ".join(words[:5])


def root_of(command: str) -> Path | None:
    """The store root the entry's `--root` names."""
    words = shlex.split(command.replace("\\%", "%"))
    return Path(words[words.index("--root") + 1]) if "--root" in words[:-1] else None


class UserCrontab:
    """The invoking user's crontab, read and written only through `crontab`."""

    where = "user crontab"

    def read(self) -> str:
        proc = subprocess.run([_crontab(), "-l"], capture_output=True, text=True)
        if proc.returncode != 0:
            if "no crontab" in proc.stderr:
                return ""
            raise BilgeError(f"crontab -l failed: {proc.stderr.strip()}")
        return proc.stdout

    def write(self, text: str) -> None:
        args = [_crontab(), "-"] if text.strip() else [_crontab(), "-r"]
        proc = subprocess.run(args, input=text, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BilgeError(f"{shlex.join(args)} failed: {proc.stderr.strip()}")

    def install(self, schedule: str, command: list[str]) -> str:
        self.write(with_entry(self.read(), crontab_block(schedule, command)))
        return self.where

    def remove(self) -> bool:
        text = self.read()
        if find_entry(text) is None:
            return False
        self.write(without_entry(text))
        return True

    def installed(self) -> Installed | None:
        line = find_entry(self.read())
        if line is None:
            return None
        return Installed(self.where, schedule_of(line), line, root_of(_command_part(line, 0)))


class CronD:
    """/etc/cron.d/bilge: a file of our own, so it is written whole (cron reads it as root's)."""

    def __init__(self, path: Path = CRON_D) -> None:
        self.path = path
        self.where = str(path)

    def install(self, schedule: str, command: list[str]) -> str:
        _write(self.path, crontab_block(schedule, command, user="root"))
        return self.where

    def remove(self) -> bool:
        if not self.path.exists():
            return False
        self.path.unlink()
        return True

    def installed(self) -> Installed | None:
        line = find_entry(self.path.read_text()) if self.path.exists() else None
        if line is None:
            return None
        return Installed(self.where, schedule_of(line), line, root_of(_command_part(line, 1)))


class SystemdUnits:
    """bilge-prune.service and .timer in `directory`; with `enable`, systemd is told (a host
    where systemd runs), without it the files are only written (for packaging, or a test)."""

    def __init__(self, directory: Path, enable: bool) -> None:
        self.directory = directory
        self.enable = enable
        self.where = str(directory)

    def install(self, schedule: str, command: list[str]) -> str:
        policy = command[-1]
        exec_start = shlex.join(command).replace("%", "%%")
        _write(
            self.directory / SERVICE, template(SERVICE).substitute(policy=policy.replace("%", "%%"), command=exec_start)
        )
        calendar = "\n".join(f"OnCalendar={value}" for value in on_calendar(schedule))
        _write(self.directory / TIMER, template(TIMER).substitute(schedule=schedule, on_calendar=calendar))
        if self.enable:
            _systemctl("daemon-reload")
            _systemctl("enable", "--now", TIMER)
        return f"{self.directory / TIMER} and {SERVICE}"

    def remove(self) -> bool:
        units = [self.directory / name for name in (TIMER, SERVICE)]
        ours = [unit for unit in units if unit.exists() and unit.read_text().startswith(MARK)]
        if not ours:
            return False
        if self.enable:
            _systemctl("disable", "--now", TIMER)
        for unit in ours:
            unit.unlink()
        if self.enable:
            _systemctl("daemon-reload")
        return True

    def installed(self) -> Installed | None:
        timer, service = self.directory / TIMER, self.directory / SERVICE
        if not (timer.exists() and service.exists()):
            return None
        schedule = next(
            (
                line.split(":", 1)[1].strip()
                for line in timer.read_text().splitlines()
                if line.startswith("# schedule:")
            ),
            "",
        )
        exec_start = next(
            (line.split("=", 1)[1] for line in service.read_text().splitlines() if line.startswith("ExecStart=")), ""
        )
        command = exec_start.replace("%%", "%")
        return Installed(f"{timer}", schedule, command, root_of(command))


def target(system: bool, systemd_dir: Path | None) -> UserCrontab | CronD | SystemdUnits:
    """Where `cron install`, `remove` and `show` look: the units in `systemd_dir` when given;
    with `system`, systemd's own directory where systemd runs, else /etc/cron.d; else the user's crontab."""
    if systemd_dir is not None:
        return SystemdUnits(systemd_dir, enable=False)
    if system:
        return SystemdUnits(SYSTEM_UNITS, enable=True) if systemd_runs() else CronD()
    return UserCrontab()


def systemd_runs() -> bool:
    return Path("/run/systemd/system").is_dir()


def _command_part(line: str, user_fields: int) -> str:
    words = line.split(None, (1 if line.startswith("@") else 5) + user_fields)
    return words[-1]


def _write(path: Path, text: str) -> None:
    """Whole or not at all: cron and systemd may read the file at any moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text(text)
    partial.chmod(0o644)
    partial.replace(path)


def _crontab() -> str:
    import shutil

    found = shutil.which("crontab")
    if found is None:
        raise BilgeError("crontab not found: install cron (Debian: apt-get install cron), or use --systemd-dir DIR")
    return found


def _systemctl(*args: str) -> None:
    proc = subprocess.run(["systemctl", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BilgeError(f"systemctl {' '.join(args)} failed: {proc.stderr.strip()}")
