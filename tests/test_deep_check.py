"""`check --deep` finds what a plain check cannot (issue 14, item 13): a truncated tar-split, a
truncated config, a bit flipped in a layer file, a layer file deleted. It names each damaged
object and the images it breaks; `save` refuses them in one line instead of writing a bad
archive; `--repair` marks them and a reload of the same images heals them, byte for byte."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from damage import flip_a_byte_in_top_layer, layer_paths, truncate

FIXTURE = "docker/images.tar.gz"
# Each damaged layer belongs to these images only (tests/../shared/fixtures/docker/inspect.json).
MULTISTAGE_LAYER = "sha256:1e8e7c812aa1e15b310e6852328d7e6d6ec5cc01acba2be3bf8cc2ae20d1dcbd"
APP_V2_TOP = "sha256:701b8fe568c83cfc81d4d2b9c4b19d77b4f12ad97c704b442c4457fe8242ca7d"
ZOO_MIB = "sha256:df814a235cd3a62bb5edd865a81ba09be23f409cc3c3d9fda841733f259e3ad2"  # the 1 MiB file


def fixture_blobs(fixtures_dir: Path) -> dict[str, bytes]:
    """Every config and layer tar of the fixture archive Docker made, by its sha256."""
    import hashlib

    out: dict[str, bytes] = {}
    with tarfile.open(fixtures_dir / FIXTURE) as tf:
        for member in tf:
            if member.isfile() and (member.name.endswith(".json") or member.name.endswith("/layer.tar")):
                data = tf.extractfile(member).read()  # type: ignore[union-attr]
                out["sha256:" + hashlib.sha256(data).hexdigest()] = data
    return out


def saved_blobs(path: Path) -> dict[str, bytes]:
    """Every config and layer the saved archive's manifest.json names, by digest."""
    with tarfile.open(path) as tf:
        names = {
            n
            for entry in json.loads(tf.extractfile("manifest.json").read())
            for n in [entry["Config"], *entry["Layers"]]
        }  # type: ignore[union-attr]
        return {"sha256:" + Path(n).name: tf.extractfile(n).read() for n in names}  # type: ignore[union-attr]


@pytest.fixture
def damaged(bilge, bilge_root: Path, fixtures_dir: Path) -> dict[str, str]:
    """The fixture loaded, then damaged four ways; what each damage is, by the image it hits."""
    bilge("load", "-q", "-i", fixtures_dir / FIXTURE)
    app_v1 = json.loads(bilge("inspect", "app:v1").stdout)[0]["Id"]
    truncate(bilge_root / "blobs" / "sha256" / app_v1.removeprefix("sha256:"))
    truncate(layer_paths(bilge_root, MULTISTAGE_LAYER)[1])
    flip_a_byte_in_top_layer(bilge, "app:v2")
    diff = layer_paths(bilge_root, ZOO_MIB)[0]
    victim = next(p for p in diff.rglob("*") if p.is_file())
    victim.unlink()
    return {"app:v1": app_v1, "zoo": str(victim.relative_to(diff))}


def test_deep_check_names_each_damaged_object_and_the_images_it_breaks_and_save_refuses_them(bilge, damaged, tmp_path):
    assert bilge("check").returncode == 0  # rows and files are all there: only the bytes are wrong
    found = bilge("check", "--deep", check=False)
    assert found.returncode == 1
    assert found.stderr == "Error: store is inconsistent: 4 problem(s); try --repair\n"
    lines = found.stdout.splitlines()
    assert len(lines) == 4
    [config] = [line for line in lines if line.startswith("image ")]
    assert config.startswith(f"image {damaged['app:v1']}: its config blob hashes to sha256:")
    assert config.endswith("; it breaks app:v1")
    layer = {line.split(":", 2)[1].split()[0]: line for line in lines if line.startswith("layer sha256:")}
    assert "its tar-split blob" in layer[MULTISTAGE_LAYER.split(":")[1]]
    assert layer[MULTISTAGE_LAYER.split(":")[1]].endswith("; it breaks multistage:latest")
    assert "re-assembles to sha256:" in layer[APP_V2_TOP.split(":")[1]]
    assert layer[APP_V2_TOP.split(":")[1]].endswith("; it breaks app:latest, app:v2")
    zoo = layer[ZOO_MIB.split(":")[1]]
    assert "No such file or directory: " in zoo and zoo.split(": ")[2].endswith("/diff/" + damaged["zoo"])
    assert zoo.endswith("; it breaks zoo:latest")

    # save refuses each in one line naming the object, and leaves no file behind
    (tmp_path / "out").mkdir()
    for image, named in [
        ("app:v1", f"image {damaged['app:v1']}: its config blob hashes to"),
        ("multistage:latest", f"layer {MULTISTAGE_LAYER}: its tar-split blob"),
        ("app:v2", f"layer {APP_V2_TOP} re-assembles to"),
        ("zoo:latest", f"layer {ZOO_MIB}: No such file or directory"),
    ]:
        failed = bilge("save", "-o", tmp_path / "out" / "image.tar", image, check=False)
        assert failed.returncode == 1
        assert failed.stderr.startswith(f"Error: {named}") and failed.stderr.count("\n") == 1, failed.stderr
        assert list((tmp_path / "out").iterdir()) == []  # not even a temporary file


def test_repair_marks_the_damage_and_a_reload_heals_it(bilge, damaged, fixtures_dir, tmp_path):
    repaired = bilge("check", "--deep", "--repair", check=False)
    assert repaired.returncode == 1  # marked, not healed: a check fetches nothing
    assert repaired.stderr.count("load or pull") == 4
    assert f"marked layer {APP_V2_TOP} damaged: load or pull app:latest, app:v2 again" in repaired.stderr
    plain = bilge("check", check=False)  # the marks are remembered
    assert plain.returncode == 1 and len(plain.stdout.splitlines()) == 4

    bilge("load", "-q", "-i", fixtures_dir / FIXTURE)
    healed = bilge("check", "--deep")
    assert (healed.stdout, healed.stderr) == ("", "store is consistent\n")
    assert bilge("check").stdout == ""

    out = tmp_path / "saved.tar"
    bilge("save", "-o", out, "app:v1", "app:v2", "multistage:latest", "zoo:latest")
    saved = saved_blobs(out)
    assert saved.items() <= fixture_blobs(fixtures_dir).items()  # byte for byte what Docker wrote
    assert damaged["app:v1"] in saved and {MULTISTAGE_LAYER, APP_V2_TOP, ZOO_MIB} <= saved.keys()


def test_a_reload_rewrites_a_damaged_config_even_unmarked(bilge, damaged, fixtures_dir, tmp_path):
    bilge("load", "-q", "-i", fixtures_dir / FIXTURE)  # no check ran: the stored config fails its digest
    out = tmp_path / "v1.tar"
    bilge("save", "-o", out, "app:v1")
    assert saved_blobs(out)[damaged["app:v1"]] == fixture_blobs(fixtures_dir)[damaged["app:v1"]]


def test_a_pull_heals_what_repair_marked(bilge, bilge_root, registry, fixtures_dir, tmp_path):
    ref = registry.ref("fixtures/zoo:latest")
    bilge("pull", "-q", ref)
    zoo = json.loads(bilge("inspect", ref).stdout)[0]["Id"]
    truncate(bilge_root / "blobs" / "sha256" / zoo.removeprefix("sha256:"))
    diff = layer_paths(bilge_root, ZOO_MIB)[0]
    next(p for p in diff.rglob("*") if p.is_file()).unlink()
    repaired = bilge("check", "--deep", "--repair", check=False)
    assert repaired.returncode == 1 and repaired.stderr.count(f"load or pull {ref} again") == 2, repaired.stderr

    bilge("pull", "-q", ref)  # fetches the marked layer again, rewrites the config
    assert bilge("check", "--deep").stderr == "store is consistent\n"
    out = tmp_path / "zoo.tar"
    bilge("save", "-o", out, ref)
    assert saved_blobs(out).items() <= fixture_blobs(fixtures_dir).items()
