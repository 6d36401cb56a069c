"""The image model (store/oci/model.py) on its own, in process: what real tools wrote parses,
what is malformed is refused with one line, and what save and push write comes back
byte for byte.

The oracles are the shared fixtures (Docker 20.10's save, umoci's layout) and, for the bytes
bilge writes, the documents as the code wrote them by hand before the model existed: Docker 25+
save's compact OCI encoding, and docker push's three-space indent with distribution's field
order. A digest names every byte, so these must never drift.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from pathlib import Path

import pytest

from bilge.store.errors import InvalidInput
from bilge.store.oci import mediatypes as mt
from bilge.store.oci.model import (
    LAYOUT,
    REGISTRY,
    ArchiveEntry,
    ArchiveManifest,
    Descriptor,
    ImageConfig,
    Index,
    Manifest,
    blob_path,
    parse_document,
    platform_manifest,
)
from bilge.store.oci.platforms import Platform


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


D1, D2, D3 = (sha(bytes([n])) for n in range(3))
CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["' + D1.encode() + b'"]}}'


# --- the fixtures real tools made ----------------------------------------------------------


@pytest.fixture(scope="module")
def layout(fixtures_dir: Path) -> Path:
    return fixtures_dir / "oci" / "multiarch"


@pytest.fixture(scope="module")
def docker_save(fixtures_dir: Path) -> dict[str, bytes]:
    """The small members of Docker 20.10's save (manifest.json and the configs), by name."""
    with tarfile.open(fixtures_dir / "docker" / "images.tar.gz") as tf:
        return {
            ti.name: tf.extractfile(ti).read()  # type: ignore[union-attr]
            for ti in tf
            if ti.isreg() and (ti.name == "manifest.json" or ti.name.endswith(".json") and "/" not in ti.name)
        }


def blob(layout: Path, digest: str) -> bytes:
    return (layout / blob_path(digest)).read_bytes()


def test_umoci_layout_parses_and_each_blob_writes_back_as_umoci_wrote_it(layout: Path) -> None:
    index = Index.parse((layout / "index.json").read_bytes(), "index.json")
    names = [d.annotations and d.annotations[mt.REF_NAME_ANNOTATION] for d in index.manifests]
    assert names == ["amd64", "arm64", "multi"]
    for desc in index.manifests:
        data = blob(layout, desc.digest)
        doc = parse_document(data, desc.digest, described=desc.media_type)
        assert doc.media_type is None or doc.media_type == desc.media_type
        assert doc.to_bytes(LAYOUT) == data.removesuffix(b"\n")  # as Docker's save; some end with Encoder's newline
        if isinstance(doc, Manifest):
            assert ImageConfig.parse(blob(layout, doc.config.digest)).diff_ids


def test_umoci_index_resolves_each_platform_to_its_manifest(layout: Path) -> None:
    index = Index.parse((layout / "index.json").read_bytes())
    multi = parse_document(blob(layout, index.manifests[2].digest), "multi")
    assert isinstance(multi, Index)

    def fetch(desc: Descriptor) -> Manifest | Index:
        return parse_document(blob(layout, desc.digest), desc.digest, described=desc.media_type)

    for want, arch in [(Platform("linux", "amd64"), "amd64"), (Platform("linux", "arm64"), "arm64")]:
        manifest = platform_manifest(multi, want, fetch, "multi")
        assert ImageConfig.parse(blob(layout, manifest.config.digest)).architecture == arch
    assert multi.manifests[1].platform == Platform("linux", "arm64", "v8")
    with pytest.raises(InvalidInput, match=r"no image for platform linux/s390x .*linux/amd64, linux/arm64/v8"):
        multi.choose(Platform("linux", "s390x"))


def test_docker_save_manifest_json_and_configs_parse_as_docker_inspects_them(
    docker_save: dict[str, bytes], fixtures_dir: Path
) -> None:
    inspect = {i["Id"]: i for i in json.loads((fixtures_dir / "docker" / "inspect.json").read_text())}
    data = docker_save["manifest.json"]
    archive = ArchiveManifest.parse(data)
    assert len(archive.images) == 8
    assert archive.to_bytes() + b"\n" == data  # Docker's encoder ends with a newline; the bytes are otherwise its own
    for entry in archive.images:
        config = ImageConfig.parse(docker_save[entry.config])
        want = inspect[sha(docker_save[entry.config])]
        assert list(config.diff_ids) == want["RootFS"]["Layers"]
        assert len(entry.layers) == len(config.diff_ids)
        assert (config.os, config.architecture) == (want["Os"], want["Architecture"])
        assert config.labels == (want["Config"]["Labels"] or None)
        assert sorted(entry.repo_tags or []) == sorted(want["RepoTags"])


# --- what save and push write --------------------------------------------------------------


def layers() -> list[Descriptor]:
    return [Descriptor(mt.OCI_LAYER, D1, 3072), Descriptor(mt.OCI_LAYER, D2, 0)]


def test_save_writes_the_compact_oci_manifest() -> None:
    manifest = Manifest.build(CONFIG, layers(), oci=True)
    want = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": sha(CONFIG), "size": len(CONFIG)},
        "layers": [
            {"mediaType": mt.OCI_LAYER, "digest": D1, "size": 3072},
            {"mediaType": mt.OCI_LAYER, "digest": D2, "size": 0},
        ],
    }
    assert manifest.to_bytes() == json.dumps(want, separators=(",", ":")).encode()
    assert Manifest.parse(manifest.to_bytes()) == manifest


def test_save_writes_index_json_with_both_names() -> None:
    named = Descriptor(
        mt.OCI_MANIFEST, D3, 400, {mt.IMAGE_NAME_ANNOTATION: "docker.io/library/a:1", mt.REF_NAME_ANNOTATION: "1"}
    )
    index = Index(mt.OCI_INDEX, (named, Descriptor(mt.OCI_MANIFEST, D2, 10)))
    want = (
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":['
        f'{{"mediaType":"{mt.OCI_MANIFEST}","digest":"{D3}","size":400,"annotations":'
        '{"io.containerd.image.name":"docker.io/library/a:1","org.opencontainers.image.ref.name":"1"}},'
        f'{{"mediaType":"{mt.OCI_MANIFEST}","digest":"{D2}","size":10}}]}}'
    )
    assert index.to_bytes() == want.encode()
    assert Index.parse(index.to_bytes()) == index


def test_save_writes_docker_manifest_json() -> None:
    archive = ArchiveManifest(
        (
            ArchiveEntry(blob_path(D1), (blob_path(D2),), ("a:1", "b:2")),
            ArchiveEntry(blob_path(D3), ()),
        )
    )
    want = [
        {"Config": blob_path(D1), "RepoTags": ["a:1", "b:2"], "Layers": [blob_path(D2)]},
        {"Config": blob_path(D3), "RepoTags": None, "Layers": []},
    ]
    assert archive.to_bytes() == json.dumps(want, separators=(",", ":")).encode()
    assert ArchiveManifest.parse(archive.to_bytes()) == archive


@pytest.mark.parametrize(
    ("types", "oci", "manifest_type", "config_type", "written"),
    [
        ([mt.DOCKER_LAYER_GZIP, mt.OCI_LAYER_GZIP, mt.OCI_LAYER], False, mt.DOCKER_MANIFEST, mt.DOCKER_CONFIG,
         [mt.DOCKER_LAYER_GZIP, mt.DOCKER_LAYER_GZIP, mt.DOCKER_LAYER]),
        ([mt.DOCKER_LAYER_GZIP, mt.OCI_LAYER_ZSTD, mt.DOCKER_LAYER], True, mt.OCI_MANIFEST, mt.OCI_CONFIG,
         [mt.OCI_LAYER_GZIP, mt.OCI_LAYER_ZSTD, mt.OCI_LAYER]),
    ],
)  # fmt: skip
def test_push_writes_distributions_encoding(types, oci, manifest_type, config_type, written) -> None:
    blobs = [Descriptor(t, sha(t.encode()), 100 + i) for i, t in enumerate(types)]
    manifest = Manifest.build(CONFIG, blobs, oci=oci)
    want = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": config_type, "size": len(CONFIG), "digest": sha(CONFIG)},
        "layers": [{"mediaType": w, "size": b.size, "digest": b.digest} for w, b in zip(written, blobs)],
    }
    body = manifest.to_bytes(REGISTRY)
    assert body == json.dumps(want, indent=3).encode()
    assert manifest.content_type == manifest_type
    back = parse_document(body, "pushed", served=manifest_type)
    assert back == manifest and back.to_bytes(REGISTRY) == body


# --- how a document's type is decided ------------------------------------------------------


MANIFEST = {"schemaVersion": 2, "config": {"mediaType": mt.OCI_CONFIG, "digest": D1, "size": 2}, "layers": []}
INDEX = {"schemaVersion": 2, "manifests": [{"mediaType": mt.OCI_MANIFEST, "digest": D1, "size": 2}]}


def doc(base: dict, **changes: object) -> bytes:
    return json.dumps({**base, **changes}).encode()


@pytest.mark.parametrize(
    ("data", "served", "described", "kind"),
    [
        (doc(MANIFEST), None, None, Manifest),  # untyped: its shape says
        (doc(INDEX), None, None, Index),
        (doc(MANIFEST), mt.DOCKER_MANIFEST, None, Manifest),
        (doc(MANIFEST), "application/json", mt.OCI_MANIFEST, Manifest),  # a Content-Type we do not know is no hint
        (doc(MANIFEST, mediaType=mt.DOCKER_MANIFEST), "text/plain", None, Manifest),
        (doc(INDEX, mediaType=mt.DOCKER_LIST), mt.DOCKER_LIST, mt.DOCKER_LIST, Index),
    ],
)
def test_document_type(data: bytes, served: str | None, described: str | None, kind: type) -> None:
    assert isinstance(parse_document(data, "doc", served=served, described=described), kind)


@pytest.mark.parametrize(
    ("data", "served", "described", "message"),
    [
        (doc(MANIFEST, mediaType=mt.DOCKER_MANIFEST), mt.OCI_MANIFEST, None,
         f"served as {mt.OCI_MANIFEST} but declares {mt.DOCKER_MANIFEST}"),
        (doc(MANIFEST, mediaType=mt.DOCKER_MANIFEST), None, mt.OCI_MANIFEST,
         f"the index says {mt.OCI_MANIFEST}, the document is {mt.DOCKER_MANIFEST}"),
        (doc(INDEX), None, mt.OCI_MANIFEST, "doc config is not a JSON object"),
        (doc(MANIFEST, mediaType="application/vnd.docker.distribution.manifest.v1+prettyjws"), None, None,
         "schema 1 images are not supported"),
        (b'{"schemaVersion": 1, "name": "x"}', "application/json", None, "unsupported media type"),
        (doc(MANIFEST, mediaType=mt.OCI_MANIFEST, manifests=[]), None, mt.OCI_INDEX, "the index says"),
    ],
)  # fmt: skip
def test_document_type_refused(data: bytes, served: str | None, described: str | None, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        parse_document(data, "doc", served=served, described=described)


def test_an_index_entry_that_is_another_index_is_refused() -> None:
    outer = Index.parse(
        doc(
            INDEX,
            manifests=[
                {
                    "mediaType": mt.OCI_INDEX,
                    "digest": D2,
                    "size": 9,
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        )
    )
    with pytest.raises(InvalidInput, match="entry for linux/amd64 is another index"):
        platform_manifest(outer, Platform("linux", "amd64"), lambda d: Index.parse(doc(INDEX)), "index x")


# --- malformed documents: one line each ----------------------------------------------------


def descriptor(**changes: object) -> dict:
    return {"mediaType": mt.OCI_LAYER_GZIP, "digest": D1, "size": 10, **changes}


def manifest(**changes: object) -> bytes:
    return doc(MANIFEST, **changes)


def config(**changes: object) -> bytes:
    return json.dumps({"os": "linux", "rootfs": {"type": "layers", "diff_ids": [D1]}, **changes}).encode()


BAD = {
    "not json": (Manifest.parse, b"{", "not valid JSON"),
    "not utf-8": (Manifest.parse, b'{"a": "\xff"}', "not valid JSON"),
    "nested deep enough to be hostile": (Index.parse, b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    "a list": (Manifest.parse, b"[]", "not a JSON object"),
    "schema version 1": (Manifest.parse, manifest(schemaVersion=1), "schemaVersion 1"),
    "an index type on a manifest": (Manifest.parse, manifest(mediaType=mt.OCI_INDEX), "unexpected media type"),
    "no config": (Manifest.parse, manifest(config=None), "config is not a JSON object"),
    "layers not a list": (Manifest.parse, manifest(layers={}), "layers is not a list"),
    "layer not an object": (Manifest.parse, manifest(layers=["sha256:x"]), "layer 0 is not a JSON object"),
    "layer without digest": (Manifest.parse, manifest(layers=[descriptor(digest=None)]), "no digest"),
    "layer digest not canonical": (Manifest.parse, manifest(layers=[descriptor(digest="sha256:AB")]), "invalid digest"),
    "layer digest escapes": (Manifest.parse, manifest(layers=[descriptor(digest="sha256:../../etc")]), "invalid digest"),
    "negative size": (Manifest.parse, manifest(layers=[descriptor(size=-1)]), "no valid size"),
    "size a bool": (Manifest.parse, manifest(layers=[descriptor(size=True)]), "no valid size"),
    "size a float": (Manifest.parse, manifest(layers=[descriptor(size=1.5)]), "no valid size"),
    "no size": (Manifest.parse, manifest(layers=[descriptor(size=None)]), "no valid size"),
    "foreign layer type": (Manifest.parse, manifest(layers=[descriptor(mediaType="application/x-foreign")]), "unsupported media type"),
    "media type not a string": (Manifest.parse, manifest(layers=[descriptor(mediaType=3)]), "mediaType is not a string"),
    "annotation not a string": (Manifest.parse, manifest(layers=[descriptor(annotations={"a": 1})]), "annotations"),
    "platform not an object": (Index.parse, doc(INDEX, manifests=[descriptor(platform="linux")]), "platform is not a JSON object"),
    "platform arch not a string": (Index.parse, doc(INDEX, manifests=[descriptor(platform={"architecture": 1})]), "architecture"),
    "index without manifests": (Index.parse, doc(INDEX, manifests=None), "has no manifests"),
    "index entry malformed": (Index.parse, doc(INDEX, manifests=[descriptor(), 7]), "entry 1 is not a JSON object"),
    "config without rootfs": (ImageConfig.parse, b'{"os": "linux"}', "has no rootfs"),
    "diff_ids not a list": (ImageConfig.parse, config(rootfs={"diff_ids": D1}), "diff_ids is not a list"),
    "diff_id not a digest": (ImageConfig.parse, config(rootfs={"diff_ids": [D1, "sha256:nope"]}), "diff_id 1: invalid digest"),
    "diff_id not a string": (ImageConfig.parse, config(rootfs={"diff_ids": [7]}), "diff_ids is not a list of strings"),
    "architecture not a string": (ImageConfig.parse, config(architecture=["amd64"]), "architecture is not a string"),
    "labels not strings": (ImageConfig.parse, config(config={"Labels": {"a": 1}}), "Labels"),
    "runtime config a list": (ImageConfig.parse, config(config=[]), "config is not a JSON object"),
    "manifest.json an object": (ArchiveManifest.parse, b"{}", "not a list"),
    "manifest.json entry lacks Layers": (ArchiveManifest.parse, b'[{"Config": "c.json"}]', "lacks Config or Layers"),
    "manifest.json Config not a string": (ArchiveManifest.parse, b'[{"Config": 1, "Layers": []}]', "Config is not a string"),
    "manifest.json RepoTags a string": (ArchiveManifest.parse, b'[{"Config": "c", "Layers": [], "RepoTags": "a:1"}]', "RepoTags"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_malformed_is_refused_in_one_line(case: str) -> None:
    parse, data, message = BAD[case]
    with pytest.raises(InvalidInput, match=re.escape(message)) as caught:
        parse(data)
    assert "\n" not in str(caught.value)


def test_what_is_optional_is_accepted() -> None:
    """What the two paths accepted before the model: a null layer list, a descriptor without a
    type (pull reads it as gzip), an entry platform without an os (linux) or an architecture
    (none to match), a config without os, created or labels."""
    parsed = Manifest.parse(manifest(layers=None))
    assert parsed.layers == () and parsed.media_type is None
    assert Manifest.parse(manifest(layers=[descriptor(mediaType=None)])).layers[0].media_type is None
    index = Index.parse(doc(INDEX, manifests=[descriptor(platform={"architecture": "arm64"}), descriptor(platform={})]))
    assert [d.platform for d in index.manifests] == [Platform("linux", "arm64"), None]
    bare = ImageConfig.parse(b'{"rootfs": {"type": "layers"}}')
    assert bare == ImageConfig(())
    assert bare.platform == Platform("", "")
