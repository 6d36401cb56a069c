"""The front door converts only the command a user named (typer's conversion of every
command was most of a read-only command's start-up), and everything when none is named."""

from __future__ import annotations

import click

from bilge.cli import app, command_for


def _names(command: click.Command) -> set[str]:
    assert isinstance(command, click.Group)
    return set(command.commands)


def test_only_the_named_command_is_converted() -> None:
    assert _names(command_for(["--root", "/tmp/x", "--debug", "images", "-a"])) == {"images"}
    assert _names(command_for(["image", "ls"])) == {"image"}
    assert _names(command_for(["df"])) == {"df"}


def test_help_and_unknown_commands_see_everything() -> None:
    everything = _names(command_for([]))
    assert {"images", "build", "rmi", "image", "system", "builder", "df", "demo"} <= everything
    assert _names(command_for(["--help"])) == everything
    assert _names(command_for(["no-such-command"])) == everything


def test_the_app_is_left_whole() -> None:
    before = (list(app.registered_commands), list(app.registered_groups))
    command_for(["images"])
    assert (app.registered_commands, app.registered_groups) == before
