"""`login` writes Docker's config.json through a symlink instead of replacing the link (issue 14, item 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bilge.store.registry import auth


def test_login_writes_through_a_symlinked_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    target = dotfiles / "docker-config.json"
    target.write_text('{"auths": {}}\n')
    config = tmp_path / "docker"
    config.mkdir()
    (config / "config.json").symlink_to(target)
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    auth.save("registry.example", auth.Credentials("me", "secret"))
    assert (config / "config.json").is_symlink()
    assert "registry.example" in json.loads(target.read_text())["auths"]
