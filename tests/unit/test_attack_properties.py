"""Property tests (hypothesis) of the three parsers hostile input meets first: references, the
image model's documents, and the layer tar extractor. Each either accepts its input or raises
the project's one-line error (InvalidInput), never another exception.

Examples are derandomized and bounded, so a run is repeatable and the file takes seconds.
"""

from __future__ import annotations

import io
import json
import os
import string
import tarfile
import tempfile
from pathlib import Path

import attack
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bilge.store import reference as ref
from bilge.store.errors import InvalidInput
from bilge.store.layerfs.extract import Limits, extract
from bilge.store.oci import model

FAST = settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TARS = settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))

# --- references: Docker's grammar (distribution/reference) ------------------------------------

_alnum = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=6)
_separator = st.sampled_from([".", "_", "__", "-", "--"])
component = st.builds(
    lambda first, rest: first + "".join(s + a for s, a in rest),
    _alnum,
    st.lists(st.tuples(_separator, _alnum), max_size=2),
)
_label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,4}[a-z0-9])?", fullmatch=True)
domain = st.one_of(
    st.builds(lambda labels: ".".join(labels), st.lists(_label, min_size=2, max_size=3)),
    st.just("localhost"),
).flatmap(lambda host: st.sampled_from([host, f"{host}:5000"]))
path = st.lists(component, min_size=1, max_size=3).map("/".join)
tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
digest = st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex())


@st.composite
def references(draw: st.DrawFn) -> tuple[str, str, str | None, str | None]:
    """(text, the repository it names, its tag, its digest) as Docker would parse it."""
    host = draw(st.one_of(st.none(), domain))
    name = draw(path)
    first, slash, rest = name.partition("/")
    if host is None and slash:  # a first component with a dot, or localhost, names a registry host
        name = ("x" + first if first == "localhost" else first.replace(".", "_")) + slash + rest
    if host is None and "/" not in name:
        repository = f"docker.io/library/{name}"
    elif host is None:
        repository = f"docker.io/{name}"
    else:
        repository = f"{host}/{name}"
    t, d = draw(st.one_of(st.none(), tag)), draw(st.one_of(st.none(), digest))
    text = (f"{host}/" if host else "") + name + (f":{t}" if t else "") + (f"@{d}" if d else "")
    return text, repository, t, d


@FAST
@given(references())
def test_a_reference_in_dockers_grammar_parses_and_formats_back(case) -> None:
    attack.count("properties", "references")
    text, repository, t, d = case
    parsed = ref.parse(text, default_tag=False)
    assert (parsed.repository, parsed.tag, parsed.digest) == (repository, t, d)
    assert ref.parse(str(parsed), default_tag=False) == parsed
    familiar = repository.removeprefix("docker.io/")
    if familiar.startswith("library/") and familiar.count("/") == 1:
        familiar = familiar.removeprefix("library/")
    assert str(parsed) == familiar + (f":{t}" if t else "") + (f"@{d}" if d else "")


@FAST
@given(st.text(max_size=80))
@example("busybox:latest\n")
@example("bus\u0131box")
def test_any_text_is_a_reference_or_invalid_input(text: str) -> None:
    attack.count("properties", "texts")
    try:
        parsed = ref.parse(text)
    except InvalidInput as exc:
        assert "\n" not in str(exc)  # one line, whatever the text held
        return
    assert ref.parse(str(parsed)) == parsed


@pytest.mark.parametrize("text", ["busybox:latest\n", "busybox:vé", "busybox:v\u00b2", "reg.io/a:\u0660", "a:ß"])
def test_a_reference_with_a_newline_or_a_non_ascii_letter_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        ref.parse(text)


# --- the image model: any JSON value parses or is InvalidInput --------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
DIGEST = "sha256:" + "a" * 64
VALID = {
    "descriptor": {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": DIGEST, "size": 3},
    "manifest": {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": DIGEST, "size": 3},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": DIGEST, "size": 3}],
    },
    "index": {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": DIGEST,
                "size": 3,
                "platform": {"os": "linux", "architecture": "amd64"},
            }
        ],
    },
    "config": {
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {"Labels": {"a": "b"}, "Env": ["A=B"]},
        "rootfs": {"type": "layers", "diff_ids": [DIGEST]},
    },
    "archive": [{"Config": "c.json", "RepoTags": ["a:b"], "Layers": ["0/layer.tar"]}],
}
PARSERS = {
    "descriptor": model.Descriptor.parse,
    "manifest": model.Manifest.parse,
    "index": model.Index.parse,
    "config": model.ImageConfig.parse,
    "archive": model.ArchiveManifest.parse,
}


def parses_or_refuses(kind: str, value: object) -> None:
    attack.count("properties", f"{kind} documents")
    for data in (value, json.dumps(value).encode()):
        try:
            PARSERS[kind](data)
        except InvalidInput:
            pass


@pytest.mark.parametrize("kind", list(PARSERS))
def test_the_valid_documents_parse(kind: str) -> None:
    PARSERS[kind](VALID[kind])


@pytest.mark.parametrize("kind", list(PARSERS))
@FAST
@given(value=json_values)
def test_any_json_value_parses_or_is_invalid_input(kind: str, value: object) -> None:
    parses_or_refuses(kind, value)


def _paths(doc: object, at: tuple = ()) -> list[tuple]:
    """Every path to a value inside a JSON document."""
    out = [at]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, (*at, key))
    elif isinstance(doc, list):
        for n, value in enumerate(doc):
            out += _paths(value, (*at, n))
    return out


def _replaced(doc: object, at: tuple, value: object) -> object:
    if not at:
        return value
    copy = json.loads(json.dumps(doc))
    node = copy
    for step in at[:-1]:
        node = node[step]
    node[at[-1]] = value
    return copy


@pytest.mark.parametrize("kind", list(PARSERS))
@FAST
@given(data=st.data())
def test_a_valid_document_with_any_one_field_replaced_parses_or_is_invalid_input(kind: str, data) -> None:
    """The wrong type where a type is expected: a string for a map, a number for a digest…"""
    at = data.draw(st.sampled_from(_paths(VALID[kind])), label="field")
    parses_or_refuses(kind, _replaced(VALID[kind], at, data.draw(json_values, label="value")))


def test_deeply_nested_json_is_invalid_input() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    for parse in PARSERS.values():
        with pytest.raises(InvalidInput):
            parse(deep)


# --- the tar extractor: random streams stay inside their directory ----------------------------

_names = st.lists(
    st.sampled_from(["a", "b", "..", ".", "", "/", "etc", ".wh.a", ".wh..wh..opq"]), min_size=1, max_size=4
)
_types = st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE])


@st.composite
def tar_streams(draw: st.DrawFn) -> bytes:
    """A tar of a few entries whose names, types and link targets are drawn from parts that
    climb, go absolute, repeat and whiteout; sometimes cut short or flipped."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for _ in range(draw(st.integers(1, 6))):
            info = tarfile.TarInfo("/".join(draw(_names)) or ".")
            info.type = draw(_types)
            info.mode = draw(st.sampled_from([0o644, 0o755, 0o4777, 0]))
            info.mtime = 1_700_000_000
            if info.type in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = "/".join(draw(_names))
            data = draw(st.binary(max_size=64)) if info.type == tarfile.REGTYPE else b""
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data else None)
    raw = out.getvalue()
    damage = draw(st.sampled_from(["none", "cut", "flip"]))
    if damage == "cut":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif damage == "flip":
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1 :]
    return raw


def _outside(top: Path, dest: Path) -> list[str]:
    """What is under `top` but not under `dest`: the extractor's escapes."""
    return sorted(str(p) for p in top.rglob("*") if p != dest and dest not in p.parents)


def _empty_symlink() -> bytes:
    """`a -> ''`: symlink(2) fails with ENOENT, which once escaped the extractor as an OSError."""
    info = tarfile.TarInfo("a")
    info.type = tarfile.SYMTYPE
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tf:
        tf.addfile(info)
    return out.getvalue()


@TARS
@given(tar_streams())
@example(_empty_symlink())
def test_a_random_tar_extracts_inside_its_directory_or_is_invalid_input(raw: bytes) -> None:
    with tempfile.TemporaryDirectory(dir=os.environ.get("PYTEST_DEBUG_TEMPROOT")) as top:
        dest = Path(top) / "a" / "b" / "dest"  # `..` climbs into a/b and a: watched, empty
        dest.mkdir(parents=True)
        attack.count("properties", "tar streams")
        try:
            extract(io.BytesIO(raw), str(dest), Limits(max_bytes=1 << 20, max_entries=100))
        except InvalidInput:
            pass
        assert _outside(Path(top), dest) == [str(Path(top) / "a"), str(Path(top) / "a" / "b")]
