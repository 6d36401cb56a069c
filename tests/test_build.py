"""`bilge build` of the contexts Docker built the fixtures from, compared with what Docker made.

Docker 20.10's classic builder made ../shared/fixtures/docker/images.tar.gz from the contexts
that `contexts/fill.py` writes. Building them again with bilge (on the fixture's busybox, as
Docker built them on its own) must give the same layers (their file lists), the same history
(`created_by`, `empty_layer`) and the same config; the cache must behave as Docker's does.
RUN steps run under the real OCI runtime, so these tests need root and runc.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from containers_support import FIXTURE_IMAGES, needs_containers

CONTEXTS = {"app-v1": "app:v1", "app-v2": "app:v2", "zoo": "zoo:latest", "multistage": "multistage:latest"}
CONFIG_KEYS = ("Cmd", "Entrypoint", "Env", "Labels", "WorkingDir", "User", "ExposedPorts")


@pytest.fixture(scope="module")
def docker_images(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Docker's images by tag: config and each layer's member names, read from the fixture archive."""
    out = tmp_path_factory.mktemp("docker-archive")
    with gzip.open(fixtures_dir / FIXTURE_IMAGES) as raw, tarfile.open(fileobj=raw) as tf:
        tf.extractall(out, filter="tar")
    images = {}
    for entry in json.loads((out / "manifest.json").read_text()):
        config = json.loads((out / entry["Config"]).read_text())
        layers = [_names(out / layer) for layer in entry["Layers"]]
        for tag in entry.get("RepoTags") or []:
            images[tag] = {"config": config, "layers": layers}
    return images


def _names(layer: Path) -> list[str]:
    with tarfile.open(layer) as tf:
        return sorted(m.name.rstrip("/") for m in tf.getmembers())


@pytest.fixture(scope="module")
def contexts(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("contexts")
    subprocess.run([sys.executable, str(fixtures_dir / "docker/contexts/fill.py"), str(out)], check=True,
                   capture_output=True)  # fmt: skip
    return out


@pytest.fixture
def builder(ctr: Callable) -> Callable:
    needs_containers()
    return ctr


def _ours(bilge: Callable, tag: str, root: Path) -> dict:
    """Our image by tag: config and each layer's member names, from a `bilge save`."""
    archive = root.parent / f"{tag.replace(':', '_').replace('/', '_')}.tar"
    bilge("save", "-o", str(archive), tag)
    out = root.parent / f"{archive.stem}-x"
    with tarfile.open(archive) as tf:
        tf.extractall(out, filter="tar")
    entry = json.loads((out / "manifest.json").read_text())[0]
    config = json.loads((out / entry["Config"]).read_text())
    return {"config": config, "layers": [_names(out / layer) for layer in entry["Layers"]]}


def _history(config: dict) -> list[tuple[str, bool]]:
    """created_by with the content checksums of COPY --from (files a RUN made) masked."""
    return [
        (re.sub(r"COPY dir:[0-9a-f]{64}", "COPY dir:<sum>", h["created_by"]), bool(h.get("empty_layer")))
        for h in config["history"]
    ]


@pytest.mark.parametrize("context", list(CONTEXTS))
def test_build_matches_docker(builder: Callable, bilge_root: Path, contexts: Path, docker_images: dict,
                              context: str) -> None:  # fmt: skip
    tag = CONTEXTS[context]
    proc = builder("build", "-t", tag, str(contexts / context))
    assert f"Successfully tagged {tag}" in proc.stdout
    ours, theirs = _ours(builder, tag, bilge_root), docker_images[tag]
    assert ours["layers"] == theirs["layers"]
    assert _history(ours["config"]) == _history(theirs["config"])
    for key in CONFIG_KEYS:
        assert ours["config"]["config"].get(key) == theirs["config"]["config"].get(key), key


def test_busybox_from_scratch_matches_docker(builder: Callable, bilge_root: Path, contexts: Path,
                                             docker_images: dict) -> None:  # fmt: skip
    builder("build", "-t", "mybusybox:latest", str(contexts / "busybox"))
    ours, theirs = _ours(builder, "mybusybox:latest", bilge_root), docker_images["busybox:latest"]
    assert ours["layers"] == theirs["layers"]
    assert _history(ours["config"]) == _history(theirs["config"])
    assert ours["config"]["config"]["Env"] == theirs["config"]["config"]["Env"]


def test_second_build_is_all_cache_and_a_change_rebuilds(builder: Callable, contexts: Path) -> None:
    context = contexts / "app-v1"
    first = builder("build", "-q", "-t", "app:v1", str(context)).stdout.strip()
    again = builder("build", "-t", "app:v1", str(context))
    assert again.stdout.count(" ---> Using cache") == 4
    assert builder("build", "-q", "-t", "app:v1", str(context)).stdout.strip() == first
    os.utime(context / "lib.bin", (1, 1))  # mtime is not content
    assert builder("build", "-q", "-t", "app:v1", str(context)).stdout.strip() == first
    (context / "app.bin").write_bytes(b"changed")
    rebuilt = builder("build", "-t", "app:v1", str(context))
    assert rebuilt.stdout.count(" ---> Using cache") == 1  # COPY lib.bin; app.bin and after rebuild
    listed = builder("images", "--filter", "dangling=true", "-q", "--no-trunc").stdout.split()
    assert first in listed


def test_failing_run_exits_with_its_code_and_leaves_the_store(builder: Callable, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nRUN echo partial > /x && exit 3\n")
    before = builder("images", "-a", "-q", "--no-trunc").stdout
    proc = builder("build", "-t", "broken", str(tmp_path), check=False)
    assert proc.returncode == 3
    assert "returned a non-zero code: 3" in proc.stderr
    assert builder("images", "-a", "-q", "--no-trunc").stdout == before
    assert builder("check").returncode == 0
    assert builder("ps", "-aq").stdout.strip() == ""


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        ("FROM busybox:latest\nFOO bar\n", "line 2: unknown instruction: FOO"),
        ("RUN echo hi\n", "no build stage in current context"),
        ("FROM busybox:latest\nCOPY missing.txt /\n", "missing.txt"),
        ("FROM busybox:latest\nCOPY ../outside /\n", "outside the build context"),
        ("FROM busybox:latest\nCOPY --from=nope /x /\n", "nope"),
    ],
)
def test_bad_dockerfiles_get_one_line(builder: Callable, tmp_path: Path, dockerfile: str, message: str) -> None:
    (tmp_path / "Dockerfile").write_text(dockerfile)
    proc = builder("build", str(tmp_path), check=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr
