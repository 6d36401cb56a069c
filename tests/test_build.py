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
from httpserve import serve

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
        ("FROM busybox:latest\nRUN echo 'unterminated\nENV A=\"b\n", "line 3"),
    ],
)
def test_bad_dockerfiles_get_one_line(builder: Callable, tmp_path: Path, dockerfile: str, message: str) -> None:
    (tmp_path / "Dockerfile").write_text(dockerfile)
    proc = builder("build", str(tmp_path), check=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr


def test_zoo_survives_save_and_a_real_docker(builder: Callable, bilge_root: Path, contexts: Path, dockerd) -> None:
    """Whiteouts, the opaque directory, the hardlink, FIFO, setuid file and long names of a
    bilge-built zoo reach Docker intact: `docker run` lists what `bilge run` lists."""
    builder("build", "-q", "-t", "bzoo:latest", str(contexts / "zoo"))
    archive = bilge_root.parent / "bzoo.tar"
    builder("save", "-o", str(archive), "bzoo:latest")
    dockerd.docker("rmi", "-f", "bzoo:latest", check=False)
    dockerd.docker("load", "-i", str(archive))
    listing = "find /data /deep -exec stat -c '%n %F %a %u:%g %h' {} + | sort"
    theirs = dockerd.docker("run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", "bzoo:latest", "-c",
                            listing).stdout  # fmt: skip
    ours = builder("run", "--rm", "--entrypoint", "/bin/sh", "bzoo:latest", "-c", listing).stdout
    dockerd.docker("rmi", "-f", "bzoo:latest", check=False)
    assert ours == theirs
    assert "/data/gone" not in ours and "/data/opq/b" not in ours and "/data/big" not in ours
    assert "/data/fifo fifo" in ours and "/data/hard regular file 4755 0:0 2" in ours


def test_context_features(builder: Callable, tmp_path: Path) -> None:
    """.dockerignore, a glob, a directory's contents, ADD of a local tarball, COPY --chown."""
    import io

    ctx = tmp_path / "ctx"
    (ctx / "src" / "skip").mkdir(parents=True)
    (ctx / "src" / "a.txt").write_text("a")
    (ctx / "src" / "b.log").write_text("b")
    (ctx / "src" / "skip" / "c.txt").write_text("c")
    (ctx / "one.conf").write_text("1")
    (ctx / "two.conf").write_text("2")
    (ctx / ".dockerignore").write_text("src/skip\n*.log\n!src/b.log\n")
    with tarfile.open(ctx / "bundle.tar.gz", "w:gz") as tf:
        info = tarfile.TarInfo("inner/hello")
        info.size = 5
        tf.addfile(info, io.BytesIO(b"hello"))
    (ctx / "Dockerfile").write_text(
        "FROM busybox:latest\nCOPY src /app/\nCOPY *.conf /etc/app/\nADD bundle.tar.gz /opt\n"
        'COPY --chown=1000:1000 one.conf /owned\nCMD ["true"]\n'
    )
    builder("build", "-q", "-t", "features:1", str(ctx))
    shown = builder("run", "--rm", "features:1", "sh", "-c",
                    "find /app /etc/app /opt/inner -type f | sort; stat -c '%u:%g' /owned; cat /opt/inner/hello").stdout  # fmt: skip
    assert shown.split() == [
        "/app/a.txt", "/app/b.log", "/etc/app/one.conf", "/etc/app/two.conf", "/opt/inner/hello", "1000:1000", "hello",
    ]  # fmt: skip


def test_a_prune_during_a_build_breaks_nothing(builder: Callable, bilge_root: Path, tmp_path: Path) -> None:
    """The build's lease holds its base, its steps so far and the layers being made."""
    (tmp_path / "Dockerfile").write_text(
        'FROM busybox:latest\nRUN echo one > /one\nRUN sleep 3 && echo two > /two\nCMD ["cat", "/one", "/two"]\n'
    )
    build = subprocess.Popen([sys.executable, "-m", "bilge", "--root", str(bilge_root), "build", "-q", "-t", "slow:1",
                              str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    prunes = 0
    while build.poll() is None:  # stopped containers and dangling images: a RUN's, a step's so far
        builder("system", "prune", "-f")
        prunes += 1
    assert build.returncode == 0, build.stderr
    assert prunes > 1
    assert builder("run", "--rm", "slow:1").stdout.split() == ["one", "two"]
    assert builder("check").returncode == 0


def test_build_cache_in_df_and_builder_prune_frees_what_it_says(builder: Callable, tmp_path: Path) -> None:
    """An untagged build is reclaimable build cache: df counts it, builder prune's dry run names
    the bytes, and the prune frees exactly those."""
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nRUN head -c 30000 /dev/urandom > /blob\nLABEL x=1\n")
    builder("build", "-q", str(tmp_path))
    df = json.loads(builder("system", "df", "--format", "json").stdout)
    cache = next(row for row in df if row["Type"] == "Build Cache")
    assert cache["TotalCount"] == 2 and cache["Active"] == 0
    assert 30000 <= cache["Reclaimable"] == cache["Size"] < 40000
    planned = json.loads(builder("builder", "prune", "-a", "--dry-run", "--format", "json").stdout)
    assert planned["Bytes"] == cache["Reclaimable"]
    done = json.loads(builder("builder", "prune", "-a", "-f", "--format", "json").stdout)
    assert done["SpaceReclaimed"] == planned["Bytes"]
    after = json.loads(builder("system", "df", "--format", "json").stdout)
    assert next(row for row in after if row["Type"] == "Build Cache")["TotalCount"] == 0
    assert builder("check").returncode == 0


# -- against a real dockerd's classic builder: the same Dockerfiles, the same results ------------


def _docker_build(dockerd, context: Path, tag: str) -> subprocess.CompletedProcess:
    env = {**dockerd.env, "DOCKER_BUILDKIT": "0"}
    return subprocess.run([dockerd.cli, "-H", dockerd.host, "build", "-t", tag, str(context)], capture_output=True,
                          text=True, check=True, env=env, timeout=300)  # fmt: skip


def _steps(output: str) -> list[str]:
    """A build's progress with IDs masked; the CLI's upload line is Docker's alone."""
    return [re.sub(r"\b[0-9a-f]{12}\b", "<id>", line) for line in output.splitlines()
            if line.strip() and not line.startswith("Sending build context")]  # fmt: skip


def _docker_config(dockerd, tag: str) -> dict:
    return json.loads(dockerd.docker("image", "inspect", tag).stdout)[0]


def _docker_history(dockerd, tag: str) -> list[str]:
    return dockerd.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", tag).stdout.splitlines()[::-1]


def _context_sums_masked(history: list[str]) -> list[str]:
    """The sums of files from the context masked: the daemon hashes the tar headers the CLI
    sends, and the docker CLI 20.10 sets the file type in their mode (fillGo18FileTypeBits)
    where later CLIs, which made the fixtures bilge matches, do not."""
    return [re.sub(r"(COPY|ADD) file:[0-9a-f]{64}", r"\1 file:<sum>", line) for line in history]


def test_run_steps_and_onbuild_triggers_match_docker(builder: Callable, bilge_root: Path, tmp_path: Path, dockerd,
                                                     fixtures_dir: Path) -> None:  # fmt: skip
    """The same two Dockerfiles through Docker's classic builder and bilge: the same progress
    lines (Running in, the RUN's output, Removing intermediate container, # Executing 2 build
    triggers), the same history and config; the triggers' files are in the child."""
    base, child = tmp_path / "base", tmp_path / "child"
    base.mkdir()
    child.mkdir()
    (base / "Dockerfile").write_text("FROM busybox:latest\nRUN echo hello\nONBUILD RUN echo triggered > /t\n"
                                     "ONBUILD COPY a /a\nENV B=1\n")  # fmt: skip
    (child / "Dockerfile").write_text('FROM onbase:1\nCMD ["cat", "/t", "/a"]\n')
    (child / "a").write_text("from the child\n")
    dockerd.docker("load", "-q", "-i", str(fixtures_dir / FIXTURE_IMAGES))
    try:
        theirs = [_docker_build(dockerd, base, "onbase:1"), _docker_build(dockerd, child, "onchild:1")]
        ours = [builder("build", "-t", "onbase:1", str(base)), builder("build", "-t", "onchild:1", str(child))]
        assert [_steps(p.stdout) for p in ours] == [_steps(p.stdout) for p in theirs]
        assert "hello" in ours[0].stdout and "# Executing 2 build triggers" in ours[1].stdout
        for tag in ("onbase:1", "onchild:1"):
            mine = json.loads(builder("inspect", tag).stdout)[0]
            docker = _docker_config(dockerd, tag)
            for key in (*CONFIG_KEYS, "OnBuild"):
                assert mine["Config"].get(key) == docker["Config"].get(key), (tag, key)
            history = [h["created_by"] for h in _ours(builder, tag, bilge_root)["config"]["history"]]
            assert _context_sums_masked(history) == _context_sums_masked(_docker_history(dockerd, tag))
        assert builder("run", "--rm", "onchild:1").stdout == "triggered\nfrom the child\n"
    finally:
        dockerd.docker("rmi", "-f", "onchild:1", "onbase:1", check=False)


def test_add_of_a_url_matches_docker(builder: Callable, bilge_root: Path, tmp_path: Path, dockerd) -> None:
    """ADD of URLs served by `python -m http.server` on loopback (the daemon downloads from the
    host's network, as bilge does): the same history (the downloads' sums, bare, and a multi:
    sum over two; the daemon hashes downloads itself, whatever the CLI) and the same files,
    modes and mtimes (Last-Modified, or the epoch for a listing that has none)."""

    served = tmp_path / "served"
    served.mkdir()
    (served / "f.txt").write_text("hello url\n")
    (served / "g.txt").write_text("another\n")
    for name in ("f.txt", "g.txt"):
        os.utime(served / name, (1614834367, 1614834367))
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    with serve(served) as url:
        (ctx / "Dockerfile").write_text(f"FROM scratch\nADD {url}/f.txt /a/\nADD {url}/f.txt {url}/g.txt /m/\n"
                                        f"ADD {url}/ /listing\nADD --chown=7:8 {url}/f.txt /owned\n")  # fmt: skip
        try:
            _docker_build(dockerd, ctx, "urls:1")
            builder("build", "-q", "-t", "urls:1", str(ctx))
            ours = _ours(builder, "urls:1", bilge_root)
            assert [h["created_by"] for h in ours["config"]["history"]] == _docker_history(dockerd, "urls:1")

            def files(members: list[tarfile.TarInfo]) -> list[tuple]:
                """Name, permissions, owner, size, a file's mtime (Docker's tar headers also carry the
                file type in the mode, as Go 1.8 wrote them; directories are made at build time)."""
                return sorted((m.name.rstrip("/"), m.mode & 0o7777, m.uid, m.gid, m.size, m.mtime if m.isreg() else None)
                              for m in members)  # fmt: skip

            archive = bilge_root.parent / "urls-docker.tar"
            archive.write_bytes(dockerd.docker("save", "urls:1", binary=True).stdout)
            theirs = _layer_members(archive)
            assert [files(layer) for layer in _layer_members(bilge_root.parent / "urls_1.tar")] == [
                files(layer) for layer in theirs
            ]
        finally:
            dockerd.docker("rmi", "-f", "urls:1", check=False)


def _layer_members(archive: Path) -> list[list[tarfile.TarInfo]]:
    """Each layer's tar members, in the manifest's order, from a `save` archive."""
    with tarfile.open(archive) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        layers = []
        for name in manifest[0]["Layers"]:
            with tarfile.open(fileobj=tf.extractfile(name)) as layer:
                layers.append(layer.getmembers())
    return layers
