"""The image model: descriptors, manifests, indexes, image configs and a docker-archive's
manifest.json, each checked once, where it is parsed, and written by one serializer.

Load and pull read the same documents from different places and save and push write them;
with one model, what one path refuses the other refuses too, and a document is the same
bytes whoever writes it. Bytes matter because digests name them: a second push uploads
nothing only if its manifest hashes the same, and a saved archive must match Docker's.
Docker writes with two Go encoders, hence the two `Encoding`s.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .. import digest as dg
from ..errors import InvalidInput
from . import mediatypes as mt
from .platforms import Platform


@dataclass(frozen=True)
class Encoding:
    """How one of Docker's encoders writes a document: the order of a descriptor's fields, and
    the indent (None: compact)."""

    order: tuple[str, ...]
    indent: int | None

    def dumps(self, doc: object) -> bytes:
        if self.indent is None:
            return json.dumps(doc, separators=(",", ":")).encode()
        return json.dumps(doc, indent=self.indent).encode()


# `docker save` (Docker 25+): the OCI spec's Go structs through json.Marshal.
LAYOUT = Encoding(("mediaType", "digest", "size", "annotations", "platform"), None)
# `docker push`: distribution's Go structs through json.MarshalIndent with three spaces.
REGISTRY = Encoding(("mediaType", "size", "digest", "annotations", "platform"), 3)

_KINDS: dict[type, str] = {str: "a string", list: "a list", dict: "a JSON object", bool: "true or false"}


def _decode(data: object, what: str) -> object:
    """Bytes decoded as JSON; anything else is taken as an already decoded value."""
    if not isinstance(data, bytes | bytearray):
        return data
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deep enough to be hostile
        raise InvalidInput(f"{what} is not valid JSON: {exc}") from None


def _object(data: object, what: str) -> dict[str, Any]:
    value = _decode(data, what)
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} is not a JSON object")
    return value


def _optional(doc: Mapping[str, Any], key: str, kind: type, what: str) -> Any:
    """doc[key], which must be of `kind`; None when absent or null, as Go decodes a null."""
    value = doc.get(key)
    if value is not None and not isinstance(value, kind):
        raise InvalidInput(f"{what}: {key} is not {_KINDS[kind]}")
    return value


def _strings(value: object, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{what} is not a list of strings")
    return tuple(value)


def _string_map(value: object, what: str) -> dict[str, str] | None:
    if value is not None and (not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())):
        raise InvalidInput(f"{what} does not map strings to strings")
    return value


def _digest(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{what}: no digest")
    try:
        return dg.validate(value)
    except InvalidInput as exc:
        raise InvalidInput(f"{what}: {exc}") from None


def _media_type(doc: Mapping[str, Any], allowed: set[str], what: str) -> str | None:
    """The type a manifest or an index declares, once its schema version is known to be 2."""
    version = doc.get("schemaVersion", 2)
    if type(version) is not int or version != 2:
        raise InvalidInput(f"{what}: schemaVersion {version!r} is not supported")
    media = _optional(doc, "mediaType", str, what)
    if media is not None and media not in allowed:
        raise InvalidInput(f"{what}: unexpected media type {media!r}")
    return media


def _versioned(media_type: str | None, **fields: object) -> dict[str, Any]:
    return {"schemaVersion": 2, **({"mediaType": media_type} if media_type else {}), **fields}


def blob_path(digest: str) -> str:
    """Where an OCI layout (and so a Docker 25+ archive) keeps a blob."""
    return f"blobs/sha256/{dg.hex_of(digest)}"


def _platform(value: object, what: str) -> Platform | None:
    """As containerd reads one: without an architecture there is nothing to match; no os is linux."""
    if value is None:
        return None
    what = f"{what} platform"
    doc = _object(value, what)
    arch = _optional(doc, "architecture", str, what)
    if arch is None:
        return None
    return Platform(_optional(doc, "os", str, what) or "linux", arch, _optional(doc, "variant", str, what))


def _platform_json(platform: Platform) -> dict[str, str]:
    doc = {"architecture": platform.architecture, "os": platform.os}
    return doc | {"variant": platform.variant} if platform.variant else doc


@dataclass(frozen=True)
class Descriptor:
    """What names a blob: its type, digest and size; an index entry's also its platform."""

    media_type: str | None
    digest: str
    size: int
    annotations: Mapping[str, str] | None = None
    platform: Platform | None = None

    @classmethod
    def parse(cls, data: object, what: str = "descriptor") -> Descriptor:
        doc = _object(data, what)
        digest = _digest(doc.get("digest"), what)
        size = doc.get("size")
        if type(size) is not int or size < 0:
            raise InvalidInput(f"{what} {digest}: descriptor has no valid size")
        return cls(
            _optional(doc, "mediaType", str, what),
            digest,
            size,
            _string_map(doc.get("annotations"), f"{what} annotations"),
            _platform(doc.get("platform"), what),
        )

    def to_json(self, encoding: Encoding = LAYOUT) -> dict[str, Any]:
        fields = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
            "annotations": None if self.annotations is None else dict(self.annotations),
            "platform": None if self.platform is None else _platform_json(self.platform),
        }
        return {key: fields[key] for key in encoding.order if fields[key] is not None}


@dataclass(frozen=True)
class Manifest:
    """One image: its config and its layers, bottom first."""

    media_type: str | None
    config: Descriptor
    layers: tuple[Descriptor, ...]

    @classmethod
    def build(cls, config: bytes, layers: Iterable[Descriptor], oci: bool) -> Manifest:
        """An image's manifest in one format, each layer typed as that format names it: Docker's
        schema 2 and OCI give the same plain or gzip tar different names."""
        if oci:
            media, config_type, names = mt.OCI_MANIFEST, mt.OCI_CONFIG, mt.LAYER_TO_OCI
        else:
            media, config_type, names = mt.DOCKER_MANIFEST, mt.DOCKER_CONFIG, mt.LAYER_TO_DOCKER
        typed = tuple(replace(d, media_type=names.get(d.media_type or "", d.media_type)) for d in layers)
        return cls(media, Descriptor(config_type, dg.sha256_bytes(config), len(config)), typed)

    @classmethod
    def parse(cls, data: object, what: str = "manifest") -> Manifest:
        doc = _object(data, what)
        media = _media_type(doc, mt.MANIFESTS, what)
        layers = _optional(doc, "layers", list, what) or []
        parsed = tuple(Descriptor.parse(d, f"{what} layer {i}") for i, d in enumerate(layers))
        for d in parsed:
            if d.media_type is not None and d.media_type not in mt.LAYERS:
                raise InvalidInput(f"{what}: layer {d.digest}: unsupported media type {d.media_type!r}")
        return cls(media, Descriptor.parse(doc.get("config"), f"{what} config"), parsed)

    @property
    def content_type(self) -> str:
        """What to serve it as: a manifest that does not declare a type is read as OCI's."""
        return self.media_type or mt.OCI_MANIFEST

    def to_json(self, encoding: Encoding = LAYOUT) -> dict[str, Any]:
        return _versioned(
            self.media_type,
            config=self.config.to_json(encoding),
            layers=[d.to_json(encoding) for d in self.layers],
        )

    def to_bytes(self, encoding: Encoding = LAYOUT) -> bytes:
        return encoding.dumps(self.to_json(encoding))


@dataclass(frozen=True)
class Index:
    """Manifests by platform (a multi-platform image) or by name (an OCI layout's index.json)."""

    media_type: str | None
    manifests: tuple[Descriptor, ...]

    @classmethod
    def parse(cls, data: object, what: str = "index") -> Index:
        doc = _object(data, what)
        media = _media_type(doc, mt.INDEXES, what)
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise InvalidInput(f"{what} has no manifests")
        return cls(media, tuple(Descriptor.parse(d, f"{what} entry {i}") for i, d in enumerate(entries)))

    def to_json(self, encoding: Encoding = LAYOUT) -> dict[str, Any]:
        return _versioned(self.media_type, manifests=[d.to_json(encoding) for d in self.manifests])

    def to_bytes(self, encoding: Encoding = LAYOUT) -> bytes:
        return encoding.dumps(self.to_json(encoding))

    def choose(self, want: Platform) -> Descriptor:
        """The entry for `want`, as containerd's platform matcher picks it: the first that matches."""
        for desc in self.manifests:
            if desc.platform is not None and want.matches(desc.platform):
                return desc
        available = ", ".join(str(desc.platform) for desc in self.manifests)
        raise InvalidInput(f"no image for platform {want} in the index (it has: {available})")


def _shape(doc: Mapping[str, Any]) -> str | None:
    return mt.OCI_INDEX if "manifests" in doc else mt.OCI_MANIFEST if "config" in doc else None


def parse_document(data: bytes, what: str, served: str | None = None, described: str | None = None) -> Manifest | Index:
    """A manifest or an index, whichever `data` is.

    A document need not declare its type (umoci's manifests do not): it then has the type it
    was served as (a registry's Content-Type), else the one of the descriptor that named it,
    else the one its shape shows. Whatever it declares must agree with both.
    """
    doc = _object(data, what)
    declared = _optional(doc, "mediaType", str, what)
    known = mt.INDEXES | mt.MANIFESTS
    if declared and served in known and declared != served:
        raise InvalidInput(f"{what}: served as {served} but declares {declared}")
    hints = [t for t in (served, described) if t in known]
    media = declared or (hints[0] if hints else _shape(doc) or served)
    if described and described != media:
        raise InvalidInput(f"{what}: the index says {described}, the document is {media}")
    if media in mt.INDEXES:
        return Index.parse(doc, what)
    if media in mt.MANIFESTS:
        return Manifest.parse(doc, what)
    raise InvalidInput(f"{what}: unsupported media type {media!r} (schema 1 images are not supported)")


def platform_manifest(
    doc: Manifest | Index, want: Platform, fetch: Callable[[Descriptor], Manifest | Index], what: str
) -> Manifest:
    """The image manifest for `want` that `doc` leads to: itself, or its index's entry for `want`,
    fetched. That must be a manifest, as Docker resolves one, which also bounds the walk."""
    if isinstance(doc, Manifest):
        return doc
    chosen = fetch(doc.choose(want))
    if isinstance(chosen, Index):
        raise InvalidInput(f"{what}: entry for {want} is another index")
    return chosen


def _check_fields(doc: Mapping[str, Any], kinds: Mapping[str, type], what: str) -> None:
    """Each field of `doc` that commands read has the type Docker's Go structs give it (a list
    of strings where the kind is `tuple`), or is absent or null."""
    for key, kind in kinds.items():
        if kind is tuple:
            _strings(doc.get(key), f"{what} {key}")
        else:
            _optional(doc, key, kind, what)


# The fields of an image config that bilge reads (create, run, inspect, history, build, commit).
_CONFIG_FIELDS = {"author": str, "os.version": str, "os.features": tuple}
_RUNTIME_FIELDS = {
    "Env": tuple,
    "Cmd": tuple,
    "Entrypoint": tuple,
    "OnBuild": tuple,
    "Shell": tuple,
    "WorkingDir": str,
    "User": str,
    "StopSignal": str,
    "ExposedPorts": dict,
    "Volumes": dict,
    "Healthcheck": dict,
}
_HISTORY_FIELDS = {"created": str, "created_by": str, "author": str, "comment": str, "empty_layer": bool}


@dataclass(frozen=True)
class ImageConfig:
    """What the store reads from an image config. An image's identity is its config's exact
    bytes, which are kept as they came, so this is a view to check and read, never written."""

    diff_ids: tuple[str, ...]
    os: str | None = None
    architecture: str | None = None
    variant: str | None = None
    created: str | None = None
    labels: Mapping[str, str] | None = None

    @classmethod
    def parse(cls, data: object, what: str = "image config") -> ImageConfig:
        doc = _object(data, what)
        rootfs = doc.get("rootfs")
        if not isinstance(rootfs, dict):
            raise InvalidInput(f"{what} has no rootfs")
        diff_ids = _strings(rootfs.get("diff_ids"), f"{what} rootfs.diff_ids")
        for i, diff_id in enumerate(diff_ids):
            _digest(diff_id, f"{what} diff_id {i}")
        runtime = _optional(doc, "config", dict, what) or {}
        _check_fields(doc, _CONFIG_FIELDS, what)
        _check_fields(runtime, _RUNTIME_FIELDS, f"{what} config")
        for i, entry in enumerate(_optional(doc, "history", list, what) or []):
            _check_fields(_object(entry, f"{what} history {i}"), _HISTORY_FIELDS, f"{what} history {i}")
        return cls(
            diff_ids,
            _optional(doc, "os", str, what),
            _optional(doc, "architecture", str, what),
            _optional(doc, "variant", str, what),
            _optional(doc, "created", str, what),
            _string_map(runtime.get("Labels"), f"{what} config.Labels"),
        )

    @property
    def platform(self) -> Platform:
        return Platform(self.os or "", self.architecture or "", self.variant)


@dataclass(frozen=True)
class ArchiveEntry:
    """One image of a docker-archive's manifest.json, which names archive members by path."""

    config: str
    layers: tuple[str, ...]
    repo_tags: tuple[str, ...] | None = None
    parent: str | None = None

    @classmethod
    def parse(cls, data: object, what: str = "manifest.json entry") -> ArchiveEntry:
        doc = _object(data, what)
        config, layers = _optional(doc, "Config", str, what), _optional(doc, "Layers", list, what)
        if config is None or layers is None:
            raise InvalidInput(f"{what} lacks Config or Layers")
        tags = doc.get("RepoTags")
        return cls(
            config,
            _strings(layers, f"{what} Layers"),
            None if tags is None else _strings(tags, f"{what} RepoTags"),
            _optional(doc, "Parent", str, what) or None,
        )

    def to_json(self) -> dict[str, Any]:
        doc = {
            "Config": self.config,
            "RepoTags": None if self.repo_tags is None else list(self.repo_tags),
            "Layers": list(self.layers),
        }
        return doc | {"Parent": self.parent} if self.parent else doc


@dataclass(frozen=True)
class ArchiveManifest:
    """A docker-archive's manifest.json: the images, in the order `docker save` was given them."""

    images: tuple[ArchiveEntry, ...]

    @classmethod
    def parse(cls, data: object, what: str = "manifest.json") -> ArchiveManifest:
        items = _decode(data, what)
        if not isinstance(items, list):
            raise InvalidInput(f"{what} is not a list")
        return cls(tuple(ArchiveEntry.parse(item, f"{what} entry {i}") for i, item in enumerate(items)))

    def to_bytes(self) -> bytes:
        return LAYOUT.dumps([image.to_json() for image in self.images])
