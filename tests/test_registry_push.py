"""`bilge push` to the real registry, read back by independent tools (skopeo, and
docker pull from the private dockerd) with identical diff_ids and image ID."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from damage import flip_a_byte_in_top_layer
from registry_fixtures import Registry  # type: ignore[import-not-found]

from bilge.fabricate import Image, docker_archive, layer_tar
from bilge.store.core import Store

MIB = 1 << 20


def loaded(bilge, fixtures_dir: Path) -> None:
    bilge("load", "-i", fixtures_dir / "docker" / "images.tar.gz")


def image(bilge, name: str) -> dict:
    return json.loads(bilge("inspect", name).stdout)[0]


def read_back(reg: Registry, name: str, tmp_path: Path) -> tuple[str, list[str]]:
    """(image ID, sha256 of each layer tar) of what skopeo copies out as a docker-archive."""
    out = tmp_path / "readback.tar"
    reg.skopeo(
        "copy",
        "-q",
        "--src-tls-verify=false",
        *reg._creds("--src-creds"),
        f"docker://{reg.ref(name)}",
        f"docker-archive:{out}",
    )
    with tarfile.open(out) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
        layers = [
            "sha256:" + hashlib.sha256(tf.extractfile(m).read()).hexdigest()  # type: ignore[union-attr]
            for m in manifest["Layers"]
        ]
    return "sha256:" + manifest["Config"].removesuffix(".json").rsplit("/", 1)[-1].removeprefix("sha256:"), layers


def test_push_reads_back_identically(bilge, registry: Registry, fixtures_dir: Path, tmp_path: Path) -> None:
    loaded(bilge, fixtures_dir)
    target = registry.ref("pushed/zoo:v1")
    bilge("tag", "zoo:latest", target)
    result = bilge("push", target)
    want = image(bilge, target)
    digest_line = result.stdout.strip()
    assert digest_line.startswith("v1: digest: sha256:")
    raw = registry.raw_manifest("pushed/zoo:v1")
    assert digest_line.split()[2] == "sha256:" + hashlib.sha256(raw).hexdigest()
    manifest = json.loads(raw)
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert manifest["config"]["digest"] == want["Id"]
    config = registry.inspect("pushed/zoo:v1", "--config")
    assert config["rootfs"]["diff_ids"] == want["RootFS"]["Layers"]
    image_id, layer_digests = read_back(registry, "pushed/zoo:v1", tmp_path)
    assert image_id == want["Id"]
    assert layer_digests == want["RootFS"]["Layers"]
    assert f"{target.split(':v1')[0]}@{digest_line.split()[2]}" in image(bilge, target)["RepoDigests"]


def test_second_push_uploads_nothing(bilge, proxy, fixtures_dir: Path) -> None:
    loaded(bilge, fixtures_dir)
    target = f"{proxy.host}/again/app:v1"
    bilge("tag", "app:v1", target)
    first = bilge("push", target)
    writes = [entry for entry in proxy.faults.log if entry[0] in ("POST", "PATCH", "PUT") and "/blobs/" in entry[1]]
    assert writes
    second = bilge("push", target)
    assert [
        entry for entry in proxy.faults.log if entry[0] in ("POST", "PATCH", "PUT") and "/blobs/" in entry[1]
    ] == writes
    assert second.stdout == first.stdout  # the same manifest digest: compression is deterministic
    assert second.stderr.count("Layer already exists") == len(image(bilge, target)["RootFS"]["Layers"])


def test_push_mounts_across_repositories(bilge, proxy) -> None:
    source = f"{proxy.host}/fixtures/busybox:latest"
    bilge("pull", source)
    target = f"{proxy.host}/mounted/busybox:latest"
    bilge("tag", source, target)
    uploads = proxy.faults.count("POST", "/blobs/uploads/")
    result = bilge("push", target)
    assert result.stderr.count("Mounted from") == 2
    mounts = [p for m, p, status, _ in proxy.faults.log if m == "POST" and "mount=" in p]
    assert len(mounts) == 2
    assert proxy.faults.count("PATCH", "/blobs/uploads/") == 0
    assert proxy.faults.count("POST", "/blobs/uploads/") == uploads + 3  # two mounts and the config
    assert image(bilge, target)["Id"] == image(bilge, source)["Id"]


def test_large_layer_goes_up_in_chunks(bilge, proxy, tmp_path: Path) -> None:
    archive = tmp_path / "big.tar"
    archive.write_bytes(
        docker_archive(
            [
                Image(
                    ["big/layer:latest"],
                    [
                        layer_tar("small", {"small/f": 64 << 10}),
                        layer_tar("big", {f"big/f{i}": 5 * MIB for i in range(4)}),
                    ],
                )
            ]
        )
    )
    bilge("load", "-i", archive)
    target = f"{proxy.host}/chunked/big:latest"
    bilge("tag", "big/layer:latest", target)
    bilge("push", target)
    patches = proxy.faults.count("PATCH", "/chunked/big/blobs/uploads/")
    assert patches >= 2  # 20 MiB of random bytes in 8 MiB chunks
    puts = [p for m, p, _, _ in proxy.faults.log if m == "PUT" and "/chunked/big/blobs/uploads/" in p]
    assert len(puts) == 3  # two layers and the config, each finished by one PUT with its digest
    assert all("digest=sha256" in p for p in puts)


def test_push_of_unknown_image_is_a_clear_error(bilge, bilge_root: Path, registry: Registry) -> None:
    Store(bilge_root).close()  # push refuses a store that is not there; this one is empty
    result = bilge("push", registry.ref("nothing/here:v1"), check=False)
    assert result.returncode == 1
    assert (
        result.stderr.strip() == f"Error: An image does not exist locally with the tag: {registry.ref('nothing/here')}"
    )


@pytest.mark.docker
def test_docker_pulls_what_bilge_pushed(bilge, registry: Registry, fixtures_dir: Path, dockerd) -> None:
    loaded(bilge, fixtures_dir)
    target = registry.ref("fordocker/app:v2")
    bilge("tag", "app:v2", target)
    bilge("push", target)
    dockerd.docker("pull", target)
    theirs = json.loads(dockerd.docker("image", "inspect", target).stdout)[0]
    ours = image(bilge, target)
    assert theirs["Id"] == ours["Id"]
    assert theirs["RootFS"]["Layers"] == ours["RootFS"]["Layers"]
    dockerd.docker("rmi", target)


def test_push_of_a_damaged_layer_fails_before_the_manifest(bilge, registry: Registry, fixtures_dir: Path) -> None:
    loaded(bilge, fixtures_dir)
    target = registry.ref("damaged/app:v1")
    bilge("tag", "app:v1", target)
    flip_a_byte_in_top_layer(bilge, target)
    result = bilge("push", target, check=False)
    assert result.returncode == 1
    assert "re-assembles to" in result.stderr.strip().splitlines()[-1]
    probe = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{target}"], capture_output=True, text=True
    )
    assert probe.returncode != 0 and "manifest unknown" in probe.stderr


def test_push_all_tags(bilge, registry: Registry, fixtures_dir: Path) -> None:
    loaded(bilge, fixtures_dir)
    repo = registry.ref("pushed/every")
    for source, tag in (("busybox:latest", "a"), ("zoo:latest", "b")):
        bilge("tag", source, f"{repo}:{tag}")
    result = bilge("push", "--all-tags", repo)
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["a", "b"]
    listed = json.loads(registry.skopeo("list-tags", "--tls-verify=false", f"docker://{repo}").stdout)
    assert sorted(listed["Tags"]) == ["a", "b"]
    for tag in ("a", "b"):
        assert (
            registry.inspect(f"pushed/every:{tag}", "--config")["rootfs"]["diff_ids"]
            == image(bilge, f"{repo}:{tag}")["RootFS"]["Layers"]
        )
    refused = bilge("push", "-a", f"{repo}:a", check=False)
    assert (refused.returncode, refused.stderr.strip()) == (1, "Error: tag can't be used with --all-tags/-a")
