"""What people type: durations, sizes, until= values and percentages (gc.units), image
references (store.reference, Docker's distribution/reference grammar), and what bilge prints
back (store.tables, go-units' HumanSize and HumanDuration).

Expected values come from the reference implementations (go-units' size_test.go and
duration_test.go, distribution/reference's normalize.go), not from bilge's output.
"""

from __future__ import annotations

import json

import pytest

from bilge.gc.units import parse_duration, parse_percent, parse_size, parse_until
from bilge.store import reference
from bilge.store.errors import InvalidInput
from bilge.store.tables import ago, human_duration, human_size, render

HEX = "0123456789abcdef" * 4
DIGEST = "sha256:" + HEX

# -- durations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("24h", 86400),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("7d", 7 * 86400),
        ("2w", 14 * 86400),
        ("1d12h", 129600),
        ("500ms", 0.5),
        ("1m30s", 90),  # "m" is minutes, "ms" milliseconds: the longer unit must win only when it fits
        ("250us", 250e-6),
        ("250µs", 250e-6),
        ("10ns", 10e-9),
        (" 5m ", 300),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", " ", "10", "h", "1h 30m", "-1h", "1H", ".5h", "1.5.5h", "5mb", "1y", "forever"])
def test_invalid_durations(text: str) -> None:
    with pytest.raises(InvalidInput, match="invalid duration"):
        parse_duration(text)


# -- sizes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("32", 32),  # go-units FromHumanSize's own cases first
        ("32b", 32),
        ("32B", 32),
        ("32k", 32_000),
        ("32K", 32_000),
        ("32kb", 32_000),
        ("32Kb", 32_000),
        ("32Mb", 32_000_000),
        ("32Gb", 32 * 10**9),
        ("32Tb", 32 * 10**12),
        ("32Pb", 32 * 10**15),
        ("32.5kB", 32_500),
        ("32.5 kB", 32_500),
        ("32.5 B", 32),
        ("0.3 K", 300),
        ("500MB", 500 * 10**6),  # then the binary units Docker's RAMInBytes spells
        ("1KiB", 1024),
        ("1kib", 1024),
        ("2GiB", 2 * 1024**3),
        ("1.5KiB", 1536),
        ("2PiB", 2 * 1024**5),
        ("1000000", 1_000_000),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text", ["", "hello", "-32", ".3kB", "32m b", "32bm", "1e3", "1,000", "1.", "kb", "1ib", "1i", "1XB"]
)
def test_invalid_sizes(text: str) -> None:
    with pytest.raises(InvalidInput, match="invalid size"):
        parse_size(text)


# -- until= --------------------------------------------------------------------------------------

NOW = 1_000_000_000.0


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("1700000000", 1_700_000_000.0),
        ("1700000000.5", 1_700_000_000.5),
        ("2024-01-01", 1_704_067_200.0),
        ("2024-01-01T10:00:00Z", 1_704_103_200.0),
        ("2024-01-01T10:00:00+02:00", 1_704_096_000.0),
        ("2024-01-01T10:00:00.123456789Z", 1_704_103_200.123456),  # Go's nanoseconds, cut to micro
        ("24h", NOW - 86400),
        ("1h30m", NOW - 5400),
        ("7d", NOW - 7 * 86400),
    ],
)
def test_until(text: str, moment: float) -> None:
    assert parse_until(text, NOW) == pytest.approx(moment)


@pytest.mark.parametrize("text", ["", "soon", "2024-13-01", "10:00", "T"])
def test_invalid_until(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_until(text, NOW)


# -- percentages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [("80", 80.0), ("80%", 80.0), ("12.5%", 12.5), ("0", 0.0), ("100%", 100.0)])
def test_percent(text: str, value: float) -> None:
    assert parse_percent(text) == value


@pytest.mark.parametrize("text", ["101", "100.5", "-1", "abc", "", "%", "50%%", "1e2", "80 %"])
def test_invalid_percent(text: str) -> None:
    with pytest.raises(InvalidInput, match="invalid percentage"):
        parse_percent(text)


# -- references ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "repository", "tag", "digest", "shown"),
    [
        ("busybox", "docker.io/library/busybox", "latest", None, "busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox", "1.36", None, "busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox", "latest", None, "busybox:latest"),
        ("docker.io/library/busybox:1", "docker.io/library/busybox", "1", None, "busybox:1"),
        ("user/repo", "docker.io/user/repo", "latest", None, "user/repo:latest"),
        ("docker.io/user/repo:v2", "docker.io/user/repo", "v2", None, "user/repo:v2"),
        ("docker.io/library/a/b", "docker.io/library/a/b", "latest", None, "library/a/b:latest"),
        ("localhost/foo", "localhost/foo", "latest", None, "localhost/foo:latest"),
        ("localhost:5000/foo/bar:v1", "localhost:5000/foo/bar", "v1", None, "localhost:5000/foo/bar:v1"),
        ("registry.example.com/a/b/c:t_1.x-y", "registry.example.com/a/b/c", "t_1.x-y", None, None),
        ("[::1]:5000/foo", "[::1]:5000/foo", "latest", None, None),
        ("UPPER/repo", "UPPER/repo", "latest", None, None),  # an upper-case first part is a host
        ("foo__bar", "docker.io/library/foo__bar", "latest", None, None),
        ("foo--bar.baz_qux", "docker.io/library/foo--bar.baz_qux", "latest", None, None),
        ("a/b/c/d", "docker.io/a/b/c/d", "latest", None, None),
        (f"busybox@{DIGEST}", "docker.io/library/busybox", None, DIGEST, f"busybox@{DIGEST}"),
        (f"busybox:1@{DIGEST}", "docker.io/library/busybox", "1", DIGEST, f"busybox:1@{DIGEST}"),
        (f"localhost:5000/x@{DIGEST}", "localhost:5000/x", None, DIGEST, None),
        ("busybox:" + "t" * 128, "docker.io/library/busybox", "t" * 128, None, None),
    ],
)
def test_references(text: str, repository: str, tag: str | None, digest: str | None, shown: str | None) -> None:
    ref = reference.parse(text)
    assert (ref.repository, ref.tag, ref.digest) == (repository, tag, digest)
    assert str(ref) == (shown or str(ref))
    assert f"{ref.domain}/{ref.path}" == repository


def test_no_default_tag_when_asked() -> None:
    assert reference.parse("busybox", default_tag=False).tag is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Busybox",
        "busybox:",
        ":tag",
        "/foo",
        "foo/",
        "foo//bar",
        "foo___bar",
        "-foo",
        "foo-",
        "foo.",
        "a:b:c",
        "busybox:-x",
        "busybox:" + "t" * 129,
        "busybox@sha256:abc",
        "busybox@md5:" + HEX[:32],
        f"busybox@sha256:{HEX.upper()}",
        "localhost:abc/foo",
        "foo:bar/baz",
        "a" * 256,
        "with space",
        "busybox\n",  # `$` also matches before a final newline: the patterns are fullmatched
        "busybox:latest\n",
        f"busybox@{DIGEST}\n",
        "busybox:t\u00e9",  # Docker's tag grammar is ASCII [A-Za-z0-9_.-]; Python's \w is Unicode
        "b\u00fcsybox",
        pytest.param(
            HEX,
            marks=pytest.mark.xfail(
                strict=True,
                reason="Docker's ParseNormalizedNamed refuses a 64-hex repository name (it would shadow an image ID); "
                "reference.parse accepts it, so `tag IMAGE <64 hex>` makes a name rmi can never reach",
            ),
        ),
    ],
)
def test_invalid_references(text: str) -> None:
    with pytest.raises(InvalidInput, match="invalid reference format"):
        reference.parse(text)


@pytest.mark.parametrize("text", [DIGEST + "\n", "sha256:" + HEX[:-1] + "\u0661"])
def test_a_digest_is_matched_whole(text: str) -> None:
    """A digest names a file in the store: a trailing newline must not pass for its end."""
    from bilge.store import digest

    with pytest.raises(InvalidInput):
        digest.validate(text)


@pytest.mark.parametrize("text", ["web\n", "/web\n", "w\u00e9b"])
def test_a_container_name_is_matched_whole(text: str) -> None:
    from bilge.store.containers.names import check_name

    with pytest.raises(InvalidInput, match="Invalid container name"):
        check_name(text)


@pytest.mark.xfail(
    strict=True,
    reason="docker.io/NAME is normalised to docker.io/NAME, not docker.io/library/NAME (distribution's splitDockerDomain "
    "adds library/ to any single-component docker.io path), so `tag X docker.io/busybox` and `tag X busybox` make two rows",
)
def test_docker_hub_single_name_gets_library() -> None:
    assert reference.parse("docker.io/busybox").repository == "docker.io/library/busybox"


@pytest.mark.xfail(
    strict=True, reason="index.docker.io (Docker's legacy default domain) is not normalised to docker.io"
)
def test_legacy_hub_domain_is_docker_io() -> None:
    assert reference.parse("index.docker.io/library/busybox").repository == "docker.io/library/busybox"


@pytest.mark.parametrize(
    ("repository", "familiar"),
    [
        ("docker.io/library/busybox", "busybox"),
        ("docker.io/library/a/b", "library/a/b"),
        ("docker.io/user/x", "user/x"),
        ("quay.io/user/x", "quay.io/user/x"),
        ("localhost:5000/library/x", "localhost:5000/library/x"),
    ],
)
def test_familiar_names(repository: str, familiar: str) -> None:
    assert reference.familiar_name(repository) == familiar


@pytest.mark.parametrize(
    ("text", "is_id"),
    [
        (HEX, True),
        (DIGEST, True),
        (HEX[:63], False),
        (HEX.upper(), False),
        ("sha256:" + HEX[:12], False),
        ("busybox", False),
    ],
)
def test_image_ids(text: str, is_id: bool) -> None:
    assert reference.is_image_id(text) is is_id


# -- human units ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "text"),
    [  # go-units TestHumanSize (HumanSize = precision 4)
        (1000, "1kB"),
        (1024, "1.024kB"),
        (1_000_000, "1MB"),
        (1_048_576, "1.049MB"),
        (2_000_000, "2MB"),
        (3.42e9, "3.42GB"),
        (5.372e12, "5.372TB"),
        (2.22e15, "2.22PB"),
        (10_000_000_000_000 * 1e15, "1e+04YB"),
    ],
)
def test_human_size_as_go_units(size: float, text: str) -> None:
    assert human_size(size, 4) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0B"), (999, "999B"), (1000, "1kB"), (1_048_576, "1.05MB"), (5.372e12, "5.37TB"), (7_654_321, "7.65MB")],
)
def test_human_size_as_docker_images_prints_it(size: float, text: str) -> None:
    """`docker images` uses HumanSizeWithPrecision(size, 3), bilge's default."""
    assert human_size(size) == text


MINUTE, HOUR = 60, 3600
DAY_S = 24 * HOUR
WEEK, MONTH, YEAR = 7 * DAY_S, 30 * DAY_S, 365 * DAY_S


@pytest.mark.parametrize(
    ("seconds", "text"),
    [  # go-units TestHumanDuration, every case
        (0.45, "Less than a second"),
        (1, "1 second"),
        (45, "45 seconds"),
        (46, "46 seconds"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (3 * MINUTE, "3 minutes"),
        (35 * MINUTE, "35 minutes"),
        (35 * MINUTE + 40, "35 minutes"),
        (45 * MINUTE, "45 minutes"),
        (45 * MINUTE + 40, "45 minutes"),
        (46 * MINUTE, "46 minutes"),
        (59 * MINUTE, "59 minutes"),
        (HOUR, "About an hour"),
        (HOUR + 29 * MINUTE, "About an hour"),
        (HOUR + 31 * MINUTE, "2 hours"),
        (HOUR + 59 * MINUTE, "2 hours"),
        (3 * HOUR, "3 hours"),
        (3 * HOUR + 29 * MINUTE, "3 hours"),
        (3 * HOUR + 31 * MINUTE, "4 hours"),
        (3 * HOUR + 59 * MINUTE, "4 hours"),
        (3 * HOUR + 60 * MINUTE, "4 hours"),
        (24 * HOUR, "24 hours"),
        (DAY_S + 12 * HOUR, "36 hours"),
        (2 * DAY_S, "2 days"),
        (7 * DAY_S, "7 days"),
        (13 * DAY_S + 5 * HOUR, "13 days"),
        (2 * WEEK, "2 weeks"),
        (2 * WEEK + 4 * DAY_S, "2 weeks"),
        (3 * WEEK, "3 weeks"),
        (4 * WEEK, "4 weeks"),
        (4 * WEEK + 3 * DAY_S, "4 weeks"),
        (MONTH, "4 weeks"),
        (MONTH + 2 * WEEK, "6 weeks"),
        (2 * MONTH, "2 months"),
        (2 * MONTH + 2 * WEEK, "2 months"),
        (3 * MONTH, "3 months"),
        (3 * MONTH + WEEK, "3 months"),
        (5 * MONTH + 2 * WEEK, "5 months"),
        (13 * MONTH, "13 months"),
        (23 * MONTH, "23 months"),
        (24 * MONTH, "24 months"),
        (24 * MONTH + 2 * WEEK, "2 years"),
        (3 * YEAR + 2 * MONTH, "3 years"),
    ],
)
def test_human_duration_as_go_units(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_ago() -> None:
    assert ago(None) == "N/A"
    assert ago(0.0).endswith(" years ago")


def test_render_formats() -> None:
    rows = [{"id": "a", "size": "1kB"}, {"id": "b", "size": "2kB"}]
    data = [
        {"Id": "a", "Size": 1000, "Tags": ["x:1", "x:2"], "Labels": {"k": "v"}, "Pinned": True},
        {"Id": "b", "Size": 2000, "Tags": [], "Labels": {}, "Pinned": False},
    ]
    columns = [("id", "ID"), ("size", "SIZE")]
    assert json.loads(render(rows, columns, "json", data)) == data
    # no JSON in a cell: lists joined by commas, mappings as key=value, booleans as words
    assert render(rows, columns, "csv", data) == 'Id,Size,Tags,Labels,Pinned\na,1000,"x:1,x:2",k=v,true\nb,2000,,,false'
    assert render(rows, columns, "md").splitlines()[0].split() == ["|", "ID", "|", "SIZE", "|"]
    assert render(rows, columns, "table").splitlines() == ["ID    SIZE", "a     1kB", "b     2kB"]


@pytest.mark.parametrize("text", ["UPPER/Case", "Busybox", "library/BusyBox:latest"])
def test_uppercase_names_say_why(text: str) -> None:
    """Docker's words: "invalid reference format: repository name must be lowercase"."""
    with pytest.raises(InvalidInput) as caught:
        reference.parse(text)
    assert str(caught.value) == f"invalid reference format: repository name must be lowercase: {text!r}"
