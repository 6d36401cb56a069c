"""`bilge load` of an OCI image layout with a multi-platform index (made by umoci).

fixtures/oci/multiarch/index.json names three things: the amd64 manifest ("amd64"), the arm64
manifest ("arm64") and an image index ("multi") listing both with their platforms
(linux/amd64, linux/arm64/v8). Loading must pick one platform: the host's, or --platform's.
"""

from __future__ import annotations

import json
import platform
import sqlite3
import tarfile
from pathlib import Path

import pytest

ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


@pytest.fixture(scope="module")
def layout(fixtures_dir: Path) -> Path:
    return fixtures_dir / "oci" / "multiarch"


def _blob(layout: Path, digest: str) -> dict:
    return json.loads((layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes())


@pytest.fixture(scope="module")
def by_arch(layout: Path) -> dict[str, str]:
    """architecture -> image ID (config digest), read from the "multi" index the way umoci wrote it."""
    index = json.loads((layout / "index.json").read_text())
    multi = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == "multi")
    out = {}
    for desc in _blob(layout, multi["digest"])["manifests"]:
        out[desc["platform"]["architecture"]] = _blob(layout, desc["digest"])["config"]["digest"]
    assert set(out) == {"amd64", "arm64"}
    return out


@pytest.fixture(scope="module")
def host_arch() -> str:
    arch = ARCH.get(platform.machine().lower())
    if arch is None:
        pytest.skip(f"the fixture has no image for this host ({platform.machine()})")
    return arch


@pytest.fixture(scope="module")
def layout_tar(tmp_path_factory, layout: Path) -> Path:
    path = tmp_path_factory.mktemp("oci") / "multiarch.tar"
    with tarfile.open(path, "w") as tf:
        for child in sorted(layout.iterdir()):
            tf.add(child, arcname=child.name)
    return path


def image_ids(root: Path) -> set[str]:
    con = sqlite3.connect(root / "bilge.db")
    try:
        return {row[0] for row in con.execute("SELECT id FROM images")}
    finally:
        con.close()


def check_loaded(bilge, root: Path, proc, arch: str, by_arch: dict[str, str]) -> None:
    want = by_arch[arch]
    assert image_ids(root) == {want}, f"expected only the {arch} image"
    other = {i for a, i in by_arch.items() if a != arch}
    assert not any(i in proc.stdout for i in other), proc.stdout
    assert f"Loaded image ID: {want}" in proc.stdout.splitlines()
    img = json.loads(bilge("inspect", want).stdout)[0]
    assert img["Architecture"] == arch
    assert img["Os"] == "linux"
    upper = Path(img["GraphDriver"]["Data"]["UpperDir"])
    assert (upper / "etc" / "arch").read_text() == f"built for {arch}\n"


def test_directory_loads_host_platform_by_default(bilge, bilge_root, layout, by_arch, host_arch):
    proc = bilge("load", "-i", layout)
    check_loaded(bilge, bilge_root, proc, host_arch, by_arch)


@pytest.mark.parametrize("spec", ["linux/arm64", "linux/arm64/v8"])
def test_directory_loads_arm64_on_request(spec, bilge, bilge_root, layout, by_arch):
    proc = bilge("load", "-i", layout, "--platform", spec)
    check_loaded(bilge, bilge_root, proc, "arm64", by_arch)


def test_directory_loads_amd64_on_request(bilge, bilge_root, layout, by_arch):
    proc = bilge("load", "-i", layout, "--platform", "linux/amd64")
    check_loaded(bilge, bilge_root, proc, "amd64", by_arch)


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_tar_of_layout_loads_like_the_directory(via, bilge, bilge_root, layout_tar, by_arch, host_arch):
    if via == "file":
        proc = bilge("load", "-i", layout_tar)
    else:
        proc = bilge("load", input=layout_tar.read_bytes())
    check_loaded(bilge, bilge_root, proc, host_arch, by_arch)


def test_tar_of_layout_with_platform(bilge, bilge_root, layout_tar, by_arch):
    proc = bilge("load", "-i", layout_tar, "--platform", "linux/arm64")
    check_loaded(bilge, bilge_root, proc, "arm64", by_arch)


@pytest.mark.parametrize("source", ["dir", "tar"])
def test_unknown_platform_fails_and_loads_nothing(source, bilge, bilge_root, layout, layout_tar):
    proc = bilge("load", "-i", layout if source == "dir" else layout_tar, "--platform", "linux/s390x", check=False)
    assert proc.returncode != 0
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    assert "s390x" in lines[0]
    assert "Traceback" not in proc.stderr
    assert image_ids(bilge_root) == set()
    assert [p.name for p in (bilge_root / "layers").iterdir()] == ["l"]
    assert list((bilge_root / "ingest").iterdir()) == []
    bilge("check")
