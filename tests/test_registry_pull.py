"""`bilge pull` from the real distribution registry gives the image ID `docker pull`
would (the config digest), whatever the manifest format, platform or layer compression."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from registry_fixtures import Registry  # type: ignore[import-not-found]
from terminal import run_on_terminal


def fixture_ids(fixtures_dir: Path) -> dict[str, dict]:
    """tag -> `docker image inspect` of the fixture images, as Docker itself saw them."""
    out = {}
    for item in json.loads((fixtures_dir / "docker" / "inspect.json").read_text()):
        for tag in item["RepoTags"]:
            out[tag] = item
    return out


def inspect(bilge, name: str) -> dict:
    return json.loads(bilge("inspect", name).stdout)[0]


def manifest_digest(reg: Registry, name: str) -> str:
    return "sha256:" + hashlib.sha256(reg.raw_manifest(name)).hexdigest()


@pytest.mark.parametrize("tag", ["busybox:latest", "zoo:latest", "app:v1"])
def test_pull_gives_dockers_image_id(bilge, registry: Registry, fixtures_dir: Path, tag: str) -> None:
    want = fixture_ids(fixtures_dir)[tag]
    ref = registry.ref(f"fixtures/{tag}")
    result = bilge("pull", ref)
    assert result.stdout.strip() == ref
    got = inspect(bilge, ref)
    assert got["Id"] == want["Id"]
    assert got["RootFS"]["Layers"] == want["RootFS"]["Layers"]
    assert got["Size"] == want["Size"]
    assert got["RepoDigests"] == [
        f"{registry.ref('fixtures/' + tag.split(':')[0])}@{manifest_digest(registry, 'fixtures/' + tag)}"
    ]
    assert "Status: Downloaded newer image" in result.stderr
    assert "store is consistent" in bilge("check").stderr


def test_pull_multi_platform_host_and_arm64(bilge, registry: Registry) -> None:
    index = json.loads(registry.raw_manifest("multi:latest"))
    config_of = {}
    for entry in index["manifests"]:
        manifest = json.loads(registry.raw_manifest(f"multi@{entry['digest']}"))
        config_of[entry["platform"]["architecture"]] = manifest["config"]["digest"]
    ref = registry.ref("multi:latest")
    bilge("pull", ref)
    host = inspect(bilge, ref)
    import platform as host_platform

    arch = {"x86_64": "amd64", "aarch64": "arm64"}[host_platform.machine()]
    assert host["Id"] == config_of[arch]
    assert host["Architecture"] == arch
    bilge("pull", "--platform", "linux/arm64", ref)
    arm = inspect(bilge, ref)
    assert arm["Id"] == config_of["arm64"]
    assert arm["Architecture"] == "arm64"
    # Both pulls record the index digest, as docker does.
    index_digest = manifest_digest(registry, "multi:latest")
    assert f"{registry.ref('multi')}@{index_digest}" in arm["RepoDigests"]


def test_pull_zstd_compressed_image(bilge, zstd_registry: Registry) -> None:
    manifest = json.loads(zstd_registry.raw_manifest("zstd/app:v2"))
    assert {layer["mediaType"] for layer in manifest["layers"]} == {"application/vnd.oci.image.layer.v1.tar+zstd"}
    config = zstd_registry.inspect("zstd/app:v2", "--config")
    ref = zstd_registry.ref("zstd/app:v2")
    bilge("pull", ref)
    got = inspect(bilge, ref)
    assert got["Id"] == manifest["config"]["digest"]
    assert got["RootFS"]["Layers"] == config["rootfs"]["diff_ids"]


def test_pull_by_digest(bilge, registry: Registry, fixtures_dir: Path) -> None:
    digest = manifest_digest(registry, "fixtures/busybox:latest")
    ref = registry.ref(f"fixtures/busybox@{digest}")
    result = bilge("pull", ref)
    assert result.stdout.strip() == ref
    got = inspect(bilge, ref)
    assert got["Id"] == fixture_ids(fixtures_dir)["busybox:latest"]["Id"]
    assert got["RepoTags"] == []
    assert got["RepoDigests"] == [ref]


def test_second_pull_fetches_no_layer(bilge, proxy, fixtures_dir: Path) -> None:
    ref = f"{proxy.host}/fixtures/zoo:latest"
    bilge("pull", ref)
    first = proxy.faults.count("GET", "/blobs/")
    assert first > 0
    again = bilge("pull", ref)
    assert proxy.faults.count("GET", "/blobs/") == first + 1  # the config only
    assert "Already exists" in again.stderr and "Image is up to date" in again.stderr
    # app:v1 shares zoo's first two layers: only its own are fetched.
    before = proxy.faults.count("GET", "/blobs/")
    result = bilge("pull", f"{proxy.host}/fixtures/app:v1")
    assert result.stderr.count("Already exists") == 2
    assert proxy.faults.count("GET", "/blobs/") == before + 1 + 2
    assert inspect(bilge, f"{proxy.host}/fixtures/app:v1")["Id"] == fixture_ids(fixtures_dir)["app:v1"]["Id"]


def test_pull_records_layer_blobs_for_push(bilge, registry: Registry, bilge_root: Path) -> None:
    bilge("pull", registry.ref("fixtures/busybox:latest"))
    manifest = json.loads(registry.raw_manifest("fixtures/busybox:latest"))
    with sqlite3.connect(bilge_root / "bilge.db") as db:
        rows = dict(db.execute("SELECT digest, diff_id FROM layer_blobs").fetchall())
        sources = db.execute("SELECT DISTINCT repository FROM blob_sources").fetchall()
    assert set(rows) == {layer["digest"] for layer in manifest["layers"]}
    assert sources == [(registry.ref("fixtures/busybox"),)]


@pytest.mark.parametrize(
    "name, message",
    [
        ("Bad/Upper", "invalid reference format"),
        ("busybox@sha256:123", "invalid reference format"),
        ("busybox:bad tag", "invalid reference format"),
    ],
)
def test_invalid_reference_fails_before_any_network(bilge, bilge_root: Path, name: str, message: str) -> None:
    result = bilge("pull", name, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_tag_is_a_clear_error(bilge, registry: Registry) -> None:
    result = bilge("pull", registry.ref("fixtures/busybox:nope"), check=False)
    assert result.returncode == 1
    assert "manifest unknown" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert bilge("images", "-q").stdout.strip() == ""


def test_platform_missing_from_index_is_a_clear_error(bilge, registry: Registry) -> None:
    result = bilge("pull", "--platform", "linux/s390x", registry.ref("multi:latest"), check=False)
    assert result.returncode == 1
    assert "no image for platform linux/s390x" in result.stderr
    assert bilge("images", "-q").stdout.strip() == ""


def test_quiet_prints_only_the_reference(bilge, registry: Registry) -> None:
    result = bilge("pull", "-q", registry.ref("fixtures/busybox:latest"))
    assert result.stdout == registry.ref("fixtures/busybox:latest") + "\n"
    assert result.stderr == ""


def test_progress_bars_on_a_terminal(registry: Registry, bilge_root: Path) -> None:
    """On a terminal, rich draws a bar per layer (bytes, speed) on stderr."""
    code, _, screen = run_on_terminal(
        bilge_root, "pull", registry.ref("fixtures/zoo:latest"), extra_env={"COLUMNS": "120", "TERM": "xterm"}
    )
    assert code == 0
    text = screen.decode("utf-8", "replace")
    assert "━" in text and "Pull complete" in text
    assert "MB" in text or "kB" in text  # the bytes column


def test_manifest_served_under_another_type_is_rejected(bilge, proxy) -> None:
    proxy.faults.manifest_type = "application/vnd.oci.image.manifest.v1+json"
    result = bilge("pull", f"{proxy.host}/fixtures/busybox:latest", check=False)
    assert result.returncode == 1
    assert (
        "served as application/vnd.oci.image.manifest.v1+json but declares "
        "application/vnd.docker.distribution.manifest.v2+json" in result.stderr
    )
    assert bilge("images", "-q").stdout.strip() == ""


def test_layer_not_matching_the_configs_diff_id_is_rejected(bilge, registry: Registry, bilge_root: Path) -> None:
    """An image whose config lists another diff_id than its layer has (made with the registry API)."""
    import httpx

    manifest = json.loads(registry.raw_manifest("fixtures/busybox:latest"))
    config = registry.inspect("fixtures/busybox:latest", "--config")
    config["rootfs"]["diff_ids"] = list(reversed(config["rootfs"]["diff_ids"]))
    body = json.dumps(config).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    base = f"http://{registry.host}/v2/bad/diffid"
    with httpx.Client() as http:
        for layer in manifest["layers"]:
            http.post(f"{base}/blobs/uploads/", params={"mount": layer["digest"], "from": "fixtures/busybox"})
        upload = http.post(f"{base}/blobs/uploads/")
        location = httpx.URL(str(upload.url)).join(upload.headers["location"])
        assert http.put(location.copy_merge_params({"digest": digest}), content=body).status_code == 201
        manifest["config"] = {**manifest["config"], "digest": digest, "size": len(body)}
        put = http.put(
            f"{base}/manifests/v1", content=json.dumps(manifest), headers={"Content-Type": manifest["mediaType"]}
        )
        assert put.status_code == 201, put.text
    result = bilge("pull", registry.ref("bad/diffid:v1"), check=False)
    assert result.returncode == 1
    assert "has diff_id" in result.stderr and "the config says" in result.stderr
    assert bilge("images", "-aq").stdout.strip() == ""
    with sqlite3.connect(bilge_root / "bilge.db") as db:
        assert db.execute("SELECT COUNT(*) FROM layers").fetchone()[0] == 0
    assert "store is consistent" in bilge("check").stderr


def test_lease_keeps_shared_layers_from_a_concurrent_prune(bilge, registry, proxy, bilge_root: Path) -> None:
    """zoo reuses busybox's two layers; pruning busybox while zoo downloads must not take them."""
    import subprocess
    import sys
    import time

    bilge("pull", f"{proxy.host}/fixtures/busybox:latest")
    proxy.faults.throttle = 0.1
    big = max(json.loads(registry.raw_manifest("fixtures/zoo:latest"))["layers"], key=lambda layer: layer["size"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "bilge", "pull", f"{proxy.host}/fixtures/zoo:latest"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not any(m == "GET" and big["digest"] in p for m, p, _, _ in proxy.faults.log):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    bilge("rmi", f"{proxy.host}/fixtures/busybox:latest")
    pruned = bilge("image", "prune", "-a", "-f")
    assert proc.wait(60) == 0, proc.stderr.read().decode() if proc.stderr else ""
    assert "store is consistent" in bilge("check").stderr, pruned.stdout
    zoo = json.loads(bilge("inspect", f"{proxy.host}/fixtures/zoo:latest").stdout)[0]
    assert len(zoo["RootFS"]["Layers"]) == 8
    assert bilge("save", "-o", bilge_root.parent / "zoo.tar", f"{proxy.host}/fixtures/zoo:latest").returncode == 0


def test_rmi_of_a_pulled_image_takes_its_digest_and_the_image(bilge, registry: Registry) -> None:
    """As Docker: untagging a repository's last tag also drops that repository's digest names,
    so a pulled image does not linger nameless (and out of reach of a dangling prune)."""
    ref = registry.ref("fixtures/busybox:latest")
    bilge("pull", "-q", ref)
    image_id = inspect(bilge, ref)["Id"]
    out = bilge("rmi", ref).stdout.splitlines()
    digest = manifest_digest(registry, "fixtures/busybox:latest")
    assert out[:2] == [f"Untagged: {ref}", f"Untagged: {registry.ref('fixtures/busybox')}@{digest}"]
    assert f"Deleted: {image_id}" in out
    assert bilge("images", "-aq").stdout.strip() == ""
