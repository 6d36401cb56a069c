"""The build context (store/build/context.py) on its own: .dockerignore as the docker CLI reads
it, COPY's sources resolved inside the context, and the checksums Docker prints in history.

Oracles: the checksums Docker 20.10 recorded for the fixture images (history.jsonl), over the
contexts as fill.py rewrites them and, for `COPY --from`, the builder stage's own layer in
images.tar.gz; moby's PatternMatcher tests (pkg/fileutils, v20.10); and, for the details the
fixtures lack (links, modes, odd names), the tar Python's tarfile makes of the same directory,
hashed by the tarsum spec.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from components import fail_or_skip

from bilge.store.build.context import DockerIgnore, Source, checksum, sources
from bilge.store.errors import InvalidInput

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "docker"
BUILDER_LAYER = "89d1f15f6e1e55779410dc98f992147f848ce835dc02e9759cff11fe656822de/layer.tar"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="files owned by 0:0, as Docker had them, need root")


def recorded_checksums() -> set[str]:
    """The `file:…`/`dir:…` of every COPY Docker recorded."""
    created = (json.loads(line)["CreatedBy"] for line in (FIXTURES / "history.jsonl").read_text().splitlines())
    return {m[1] for c in created if (m := re.search(r"#\(nop\) COPY (\S+) in ", c))}


# -- the oracle: what Docker recorded ---------------------------------------------------------------


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The contexts exactly as Docker built them (fill.py writes the data files)."""
    out = tmp_path_factory.mktemp("contexts")
    done = subprocess.run([sys.executable, str(FIXTURES / "contexts" / "fill.py"), str(out)], capture_output=True)
    if done.returncode:
        # CI installs busybox-static, which fill.py copies
        fail_or_skip(f"fill.py could not write the contexts: {done.stderr.decode().strip().splitlines()[-1]}")
    return out


@as_root
@pytest.mark.parametrize(
    ("context", "source", "expected"),
    [
        ("busybox", "busybox", "file:73e2b2d48642b21b357384b0cb81c1869cc5e0c48a00f61553756196058304b9"),
        ("app-v1", "lib.bin", "file:cb1d4e0df034ba5eb4db9047eb054dad61204727d491c6092789dca9084dbf6a"),
        ("app-v2", "lib.bin", "file:cb1d4e0df034ba5eb4db9047eb054dad61204727d491c6092789dca9084dbf6a"),
        ("app-v1", "app.bin", "file:0d946679bc7b8d587c9f73a155fda380bf1e632788bfe2ff812e8903494f1e47"),
        ("app-v2", "app.bin", "file:4463d1315c38431f4cf16b271414c5096a19bc097f3c9147cdcd77e8d785f3b2"),
    ],
)
def test_context_checksums_match_dockers_history(filled: Path, context: str, source: str, expected: str) -> None:
    assert expected in recorded_checksums()
    root = filled / context
    (found,) = sources(root, [source], DockerIgnore.load(root))
    assert (found.name, found.path, found.checksum) == (source, root / source, expected)


@as_root
def test_context_checksum_ignores_owner_and_mtime(filled: Path, tmp_path: Path) -> None:
    """The CLI sends the context as 0:0 and tarsum leaves mtime out: a copy owned by someone
    else, touched later, hashes the same."""
    copy = tmp_path / "app.bin"
    copy.write_bytes((filled / "app-v1" / "app.bin").read_bytes())
    os.chown(copy, 1234, 5678)
    os.utime(copy, (1, 1))
    (found,) = sources(tmp_path, ["app.bin"], DockerIgnore([]))
    assert found.checksum == "file:0d946679bc7b8d587c9f73a155fda380bf1e632788bfe2ff812e8903494f1e47"
    copy.chmod(0o600)
    assert sources(tmp_path, ["app.bin"], DockerIgnore([]))[0].checksum != found.checksum


@as_root
def test_copy_from_checksum_matches_dockers_history(tmp_path: Path) -> None:
    """multistage's `COPY --from=builder /out /`: the builder stage's files, read in place with
    their owners and user names, as in the layer the stage committed."""
    expected = "dir:5993afac56bb66506b5175901c68a2ea7b38cf1e4a58065302b907ed7da71d4e"
    assert expected in recorded_checksums()
    with tarfile.open(FIXTURES / "images.tar.gz") as archive:
        member = archive.getmember(BUILDER_LAYER)
        layer = archive.extractfile(member)
        assert layer is not None
        with tarfile.open(fileobj=layer) as tar:
            tar.extractall(tmp_path, filter="fully_trusted")
    (found,) = sources(tmp_path, ["/out"], None)
    assert (found.name, found.path, found.checksum) == ("out", tmp_path / "out", expected)
    os.chown(tmp_path / "out" / "blob", 1000, 1000)  # a stage's owners count, unlike the context's
    assert sources(tmp_path, ["/out"], None)[0].checksum != expected


# -- the tarsum of what the CLI would send, from Python's own tar ------------------------------------


def tarsum(member: tarfile.TarInfo, data: bytes) -> str:
    """tarsum v1 of one entry as the daemon reads the CLI's tar (user and group names blank)."""
    name = member.name + "/" if member.isdir() else member.name
    fields = [
        ("name", name), ("mode", str(member.mode & 0o7777)), ("uid", "0"), ("gid", "0"), ("size", str(member.size)),
        ("typeflag", member.type.decode()), ("linkname", member.linkname), ("uname", ""), ("gname", ""),
        ("devmajor", str(member.devmajor)), ("devminor", str(member.devminor)),
    ]  # fmt: skip
    return hashlib.sha256(b"".join(os.fsencode(k + v) for k, v in fields) + data).hexdigest()


def cli_sums(context: Path) -> dict[str, str]:
    """Every entry's tarsum, from the headers tarfile would write for `context` in the order of
    Go's walk (names sorted, depth first), an inode's second name as a hard link."""
    sums: dict[str, str] = {}
    tar = tarfile.TarFile(fileobj=io.BytesIO(), mode="w")
    for path in sorted(context.rglob("*"), key=lambda p: os.fsencode(p.relative_to(context))):
        member = tar.gettarinfo(path, path.relative_to(context).as_posix())
        sums[member.name] = tarsum(member, path.read_bytes() if member.isreg() else b"")
    return sums


def dir_checksum(sums: dict[str, str], top: str, links: dict[str, str]) -> str:
    """`dir:` over the entries at and under `top`; the builder looks a symlink up by where it
    leads (`links`), so its target's sum stands in for its own."""
    inside = sorted(sums[links.get(name, name)] for name in sums if name == top or name.startswith(top + "/"))
    return "dir:" + hashlib.sha256(",".join(inside).encode()).hexdigest()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A context with what the fixtures lack: a hard link, a symlink, a FIFO, a setuid file,
    a directory tree, a name that is not ASCII."""
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("a\n")
    (tmp_path / "d" / "sub" / "b.bin").write_bytes(os.urandom(3000))
    (tmp_path / "d" / "sub" / "empty").write_bytes(b"")
    (tmp_path / "d" / "sub" / "b.bin").chmod(0o4755)
    os.link(tmp_path / "d" / "a.txt", tmp_path / "d" / "z-hard")
    os.symlink("a.txt", tmp_path / "d" / "link")
    os.mkfifo(tmp_path / "d" / "fifo")
    (tmp_path / "d" / "ünï cødé.txt").write_text("u\n")
    (tmp_path / "top.txt").write_text("top\n")
    return tmp_path


def test_checksums_agree_with_a_tar_of_the_context(tree: Path) -> None:
    sums = cli_sums(tree)
    ignore = DockerIgnore([])
    for name in ["top.txt", "d/a.txt", "d/sub/b.bin", "d/sub/empty", "d/ünï cødé.txt", "d/fifo"]:
        assert sources(tree, [name], ignore)[0].checksum == "file:" + sums[name], name
    assert sources(tree, ["d/z-hard"], ignore)[0].checksum == "file:" + sums["d/z-hard"]
    assert sums["d/z-hard"] != sums["d/a.txt"]  # the second name is sent as a hard link: a header only
    assert sources(tree, ["d"], ignore)[0].checksum == dir_checksum(sums, "d", {"d/link": "d/a.txt"})
    assert sources(tree, ["d/sub"], ignore)[0].checksum == dir_checksum(sums, "d/sub", {})


def test_a_symlink_is_hashed_as_its_target_but_keeps_its_name(tree: Path) -> None:
    (link,) = sources(tree, ["d/link"], DockerIgnore([]))
    (target,) = sources(tree, ["d/a.txt"], DockerIgnore([]))
    assert (link.name, link.path, link.checksum) == ("d/link", tree / "d" / "a.txt", target.checksum)


def test_directory_checksum_follows_content(tree: Path) -> None:
    before = sources(tree, ["d"], DockerIgnore([]))[0].checksum
    os.utime(tree / "d" / "a.txt", (5, 5))
    assert sources(tree, ["d"], DockerIgnore([]))[0].checksum == before
    (tree / "d" / "sub" / "new").write_text("n")
    assert sources(tree, ["d"], DockerIgnore([]))[0].checksum != before
    assert sources(tree, ["d"], DockerIgnore(["d/sub/new"]))[0].checksum == before  # excluded: not sent


def test_several_sources_are_multi(tree: Path) -> None:
    found = sources(tree, ["top.txt", "d/a.txt"], DockerIgnore([]))
    joined = ",".join(s.checksum for s in found)
    assert checksum(found) == "multi:" + hashlib.sha256(joined.encode()).hexdigest()
    assert checksum(found[:1]) == found[0].checksum


# -- where sources are found --------------------------------------------------------------------------


def names(found: list[Source]) -> list[str]:
    return [s.name for s in found]


def test_wildcards_match_like_filepath_match(tree: Path) -> None:
    ignore = DockerIgnore([])
    assert names(sources(tree, ["d/*.txt"], ignore)) == ["d/a.txt", "d/ünï cødé.txt"]
    assert names(sources(tree, ["*.txt"], ignore)) == ["top.txt"]  # * stops at /
    assert names(sources(tree, ["d/su?"], ignore)) == ["d/sub"]
    assert names(sources(tree, ["d/[a-c]*"], ignore)) == ["d/a.txt"]
    assert names(sources(tree, ["d/[^a-m]*"], ignore)) == ["d/sub", "d/z-hard", "d/ünï cødé.txt"]
    assert names(sources(tree, ["d/sub/*", "top.txt"], ignore)) == ["d/sub/b.bin", "d/sub/empty", "top.txt"]
    (tree / "d" / "[x").touch()
    assert names(sources(tree, ["d/\\[x*"], ignore)) == ["d/[x"]  # an escaped [ is a plain character


def test_leading_slash_and_dot_stay_inside(tree: Path) -> None:
    ignore = DockerIgnore([])
    assert sources(tree, ["/top.txt"], ignore)[0].path == tree / "top.txt"
    assert sources(tree, ["./top.txt"], ignore)[0].path == tree / "top.txt"
    assert sources(tree, ["d/../top.txt"], ignore)[0].path == tree / "top.txt"
    whole = sources(tree, ["."], ignore)[0]
    assert (whole.path, whole.checksum[:4]) == (tree, "dir:")
    assert sources(tree, ["/"], ignore)[0].checksum == whole.checksum


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("../x", "COPY failed: forbidden path outside the build context: ../x ()"),
        ("d/../../x", "COPY failed: forbidden path outside the build context: d/../../x ()"),
        (
            "missing",
            "COPY failed: file not found in build context or excluded by .dockerignore: stat missing: file does not exist",
        ),
        ("top.txt/x", "COPY failed: forbidden path outside the build context: top.txt/x ()"),
        ("*.nothing", "COPY failed: no source files were specified"),
    ],
)
def test_refused(tree: Path, pattern: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        sources(tree, [pattern], DockerIgnore([]))
    assert str(caught.value) == message


def test_symlinks_cannot_leave_the_context(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Links are followed as if the context were the root: `..` stops at it and an absolute
    target starts from it, so a link out of the context finds nothing, or the context's own."""
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret").write_text("secret\n")
    os.symlink(outside / "secret", tree / "absolute")
    os.symlink("../../../../../../" + str(outside / "secret"), tree / "relative")
    os.symlink(outside, tree / "outdir")
    for name in ["absolute", "relative", "outdir/secret"]:
        with pytest.raises(
            InvalidInput, match=f"file not found in build context or excluded by .dockerignore: stat {name}:"
        ):
            sources(tree, [name], DockerIgnore([]))
    os.symlink("/top.txt", tree / "rooted")
    assert sources(tree, ["rooted"], DockerIgnore([]))[0].path == tree / "top.txt"
    with pytest.raises(InvalidInput, match="stat outdir: file does not exist"):
        sources(tree, ["outdir"], DockerIgnore([]))


def test_stage_roots_say_stat_without_the_context_hint(tree: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        sources(tree, ["missing"], None)
    assert str(caught.value) == "COPY failed: stat missing: file does not exist"


# -- .dockerignore -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [  # moby's TestMatches (pkg/fileutils, v20.10)
        ("**", "file", True),
        ("**", "dir/file", True),
        ("**/**", "dir/file", True),
        ("dir/**", "dir/file", True),
        ("dir/**", "dir/dir2/file", True),
        ("**/dir2/*", "dir/dir2/file", True),
        ("**/dir2/**", "dir/dir2/dir3/file", True),
        ("**file", "file", True),
        ("**file", "dir/file", True),
        ("**/file", "dir/file", True),
        ("**file", "dir/dir/file", True),
        ("**/file*", "dir/dir/file.txt", True),
        ("**/file*txt", "dir/dir/file.txt", True),
        ("**/file*.txt*", "dir/dir/file.txt", True),
        ("**/**/*.txt", "dir/dir/file.txt", True),
        ("**/**/*.txt2", "dir/dir/file.txt", False),
        ("**/*.txt", "file.txt", True),
        ("**/**/*.txt", "file.txt", True),
        ("a**/*.txt", "a/file.txt", True),
        ("a**/*.txt", "a/dir/file.txt", True),
        ("a**/*.txt", "a/dir/dir/file.txt", True),
        ("a/*.txt", "a/dir/file.txt", False),
        ("a/*.txt", "a/file.txt", True),
        ("a/*.txt**", "a/file.txt", True),
        ("a[b-d]e", "ae", False),
        ("a[b-d]e", "ace", True),
        ("a[b-d]e", "aae", False),
        ("a[^b-d]e", "aze", True),
        (".*", ".foo", True),
        (".*", "foo", False),
        ("abc.def", "abcdef", False),
        ("abc.def", "abc.def", True),
        ("abc.def", "abcZdef", False),
        ("abc?def", "abcZdef", True),
        ("abc?def", "abcdef", False),
        ("a\\\\", "a\\", True),
        ("**/foo/bar", "foo/bar", True),
        ("**/foo/bar", "dir/foo/bar", True),
        ("**/foo/bar", "dir/dir2/foo/bar", True),
        ("abc/**", "abc", False),
        ("abc/**", "abc/def", True),
        ("abc/**", "abc/def/ghi", True),
        ("**/.foo", ".foo", True),
        ("**/.foo", "bar.foo", False),
        ("a\\*b", "a*b", True),
        # a pattern also matches what is under the directories it names
        ("dir", "dir/file", True),
        ("dir/*", "dir/sub/file", True),
        ("*.txt", "dir/file.txt", False),
    ],
)
def test_patterns(pattern: str, path: str, matches: bool) -> None:
    assert DockerIgnore([pattern]).excluded(path) is matches


@pytest.mark.parametrize(
    ("lines", "path", "is_dir", "excluded"),
    [
        (["# a comment", "", "   ", "secret"], "secret", False, True),
        (["# secret"], "# secret", False, False),  # the comment, not a pattern
        ([" #secret"], "#secret", False, True),  # not a comment: # must come first
        (["/secret"], "secret", False, True),
        (["./secret"], "secret", False, True),
        (["sub/../secret"], "secret", False, True),
        (["\ufeffsecret"], "secret", False, True),
        (["*.log", "!keep.log"], "keep.log", False, False),
        (["*.log", "!keep.log"], "other.log", False, True),
        (["!keep.log", "*.log"], "keep.log", False, True),  # the last match decides
        (["logs"], "logs/a", False, True),
        (["logs", "!logs/keep"], "logs/keep", False, False),
        (["logs", "!logs/keep"], "logs/other", False, True),
        (["logs", "!logs/keep"], "logs", True, False),  # kept: the CLI walks in for the exception
        (["logs", "!logs/keep"], "logs", False, True),  # a file of that name is not
        (["logs"], "logs", True, True),
        (["logs/**", "!logs/keep/**"], "logs/keep/x", False, False),
        (["**/node_modules"], "a/b/node_modules/x/y", False, True),  # an excluded directory takes all below
        (["Dockerfile"], "Dockerfile", False, True),
    ],
)
def test_dockerignore(lines: list[str], path: str, is_dir: bool, excluded: bool) -> None:
    assert DockerIgnore(lines).excluded(path, is_dir) is excluded


def test_dockerignore_load(tree: Path) -> None:
    assert not DockerIgnore.load(tree).excluded("top.txt")
    (tree / ".dockerignore").write_text("# ignore the text files\r\n*.txt\r\n!d\n")
    ignore = DockerIgnore.load(tree)
    assert ignore.excluded("top.txt") and not ignore.excluded("d/a.txt")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["!"], 'illegal exclusion pattern: "!"'),
        (["a["], "syntax error in pattern"),
        (["a\\"], "syntax error in pattern"),
    ],
)
def test_dockerignore_errors(lines: list[str], message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        DockerIgnore(lines)


def test_sources_see_the_context_the_cli_sends(tree: Path) -> None:
    ignore = DockerIgnore(["d", "!d/sub/b.bin", "*.txt"])
    with pytest.raises(
        InvalidInput, match="file not found in build context or excluded by .dockerignore: stat top.txt"
    ):
        sources(tree, ["top.txt"], ignore)
    with pytest.raises(InvalidInput, match="stat d/a.txt: file does not exist"):
        sources(tree, ["d/a.txt"], ignore)
    assert names(sources(tree, ["d/*"], ignore)) == ["d/sub"]
    assert names(sources(tree, ["d/sub/*"], ignore)) == ["d/sub/b.bin"]
    # kept directories were never sent: Docker has no sum for them and hashes their path instead
    sums = cli_sums(tree)
    inside = sorted(["d/sub", sums["d/sub/b.bin"]])
    assert (
        sources(tree, ["d/sub"], ignore)[0].checksum == "dir:" + hashlib.sha256(",".join(inside).encode()).hexdigest()
    )
