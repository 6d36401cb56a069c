"""A build that is all cache does little more than look its steps up, and the builder's smaller
Docker behaviours, on FROM scratch builds that need no container runtime.

`bilge build` skips typer (the side door reads its flags: tests/unit/test_side_door.py), remembers its
Dockerfile's parse and its context files' sums (memo.py: a file's sum is used again only while
its stat is unchanged, so a changed file is always hashed again), and imports nothing a cache
hit does not use. The rest: the escape directive in substitutions, ONBUILD triggers, the
"Running in" lines, HEALTHCHECK's options and Go's formats, ADD of a URL.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from httpserve import serve

from bilge.store import reference, session
from bilge.store.build import command, context, dockerfile, golang
from bilge.store.build.builder import Builder, Options
from bilge.store.core import Store
from bilge.store.errors import InvalidInput

# -- builds on a store, in this process -----------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "store")
    yield opened
    opened.close()


def build(store: Store, ctx: Path, *, tags: tuple[str, ...] = (), no_cache: bool = False) -> tuple[str, list[str]]:
    lines: list[str] = []
    image = Builder(store, Options(context=ctx, tags=list(tags), no_cache=no_cache), lines.append).build()
    return image, lines


def write(ctx: Path, dockerfile_text: str, **files: bytes | str) -> Path:
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile_text)
    for name, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        (ctx / name).write_bytes(data)
    return ctx


def config(store: Store, image: str) -> dict:
    return store.images.config(image)


def memo_rows(store: Store, prefix: str) -> dict[str, str]:
    rows = store.db.execute("SELECT key, value FROM build_memo WHERE key LIKE ?", [prefix + "%"]).fetchall()
    return dict(rows)


def test_a_second_build_hits_everything_and_hashes_nothing(store: Store, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(context, "RACY", 0.0)  # the files are seconds old at most
    ctx = write(tmp_path / "ctx", "FROM scratch\nCOPY a /a\nCOPY b /b\nENV X=1\n", a="aaa", b="bbb")
    time.sleep(0.05)
    first, _ = build(store, ctx)
    assert set(memo_rows(store, "file:")) == {f"file:{ctx.resolve()}/a", f"file:{ctx.resolve()}/b"}
    hashed: list[str] = []
    real = context.Tree._tarsum

    def counting(self: context.Tree, rel: str, st: os.stat_result, sent: bool) -> str:
        hashed.append(rel)
        return real(self, rel, st, sent)

    monkeypatch.setattr(context.Tree, "_tarsum", counting)
    monkeypatch.setattr(dockerfile, "parse", lambda text: pytest.fail("the parse is remembered"))
    again, lines = build(store, ctx)
    assert again == first and lines.count(" ---> Using cache") == 3
    assert hashed == ["a", "b"]  # each file's header fields are read; the memo answers before its content is


def test_a_changed_file_is_hashed_again_whatever_its_mtime(store: Store, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Same size, mtime set back to what it was: the write moved ctime, so the memo does not
    answer, the sum changes, and the step misses as Docker's would."""
    monkeypatch.setattr(context, "RACY", 0.0)
    ctx = write(tmp_path / "ctx", "FROM scratch\nCOPY a /a\n", a="one")
    time.sleep(0.05)
    first, _ = build(store, ctx)
    st = os.stat(ctx / "a")
    time.sleep(0.05)
    (ctx / "a").write_text("two")
    os.utime(ctx / "a", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(ctx / "a").st_mtime_ns == st.st_mtime_ns and os.stat(ctx / "a").st_size == st.st_size
    second, lines = build(store, ctx)
    assert second != first and " ---> Using cache" not in lines


def test_a_touched_file_still_hits(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context, "RACY", 0.0)
    ctx = write(tmp_path / "ctx", "FROM scratch\nCOPY a /a\n", a="one")
    time.sleep(0.05)
    first, _ = build(store, ctx)
    os.utime(ctx / "a", (12345, 12345))
    again, lines = build(store, ctx)
    assert again == first and lines.count(" ---> Using cache") == 1


def test_a_file_changed_just_now_is_not_remembered(store: Store, tmp_path: Path) -> None:
    """Within RACY seconds of its last change a file may change again inside its timestamp's
    granularity: its sum is used for this build only."""
    ctx = write(tmp_path / "ctx", "FROM scratch\nCOPY a /a\n", a="fresh")
    build(store, ctx)
    assert memo_rows(store, "file:") == {}
    assert set(memo_rows(store, "parse:")) == {f"parse:{ctx.resolve()}/Dockerfile"}


def test_an_edited_dockerfile_is_parsed_again(store: Store, tmp_path: Path) -> None:
    ctx = write(tmp_path / "ctx", "FROM scratch\nENV A=1\n")
    build(store, ctx)
    (ctx / "Dockerfile").write_text("FROM scratch\nENV A=2\n")
    image, _ = build(store, ctx)
    assert config(store, image)["config"]["Env"][-1] == "A=2"


def test_a_remembered_parse_is_the_parse() -> None:
    text = (
        "# escape=`\nARG BASE=scratch\nFROM $BASE AS one\nENV A=1 `\n B=2\nCOPY --from=img --chown=1:2 a b /c/\n"
        'HEALTHCHECK --interval=5s CMD ["true"]\nFROM one\nONBUILD RUN echo hi\nCMD echo "x"\n'
    )
    stages = dockerfile.parse(text)
    assert dockerfile.load(dockerfile.dump(stages)) == stages


def test_the_memo_stamp_names_the_parser() -> None:
    stamp = dockerfile.parser_stamp()
    assert dockerfile.__file__ in stamp and "dockerfile_parse" in stamp


def test_a_cached_build_imports_nothing_a_cache_hit_does_not_use(tmp_path: Path) -> None:
    """The heavy parts stay unloaded: typer and click, the Dockerfile parser, tar, the
    container room, hashing, dataclasses and typing (each costs more to import than the whole
    build does). Deterministic, unlike a timing: the benchmark times it."""
    ctx = write(tmp_path / "ctx", 'FROM scratch\nCOPY a /a\nENV X=1\nWORKDIR /w\nCMD ["x"]\n', a="a")
    os.utime(ctx / "a", (1, 1))
    root = tmp_path / "store"
    args = [
        sys.executable,
        "-X",
        "importtime",
        "-m",
        "bilge",
        "--root",
        str(root),
        "build",
        "-q",
        "-t",
        "t:1",
        str(ctx),
    ]
    env = {**os.environ, "BILGE_ROOT": str(root)}
    first = subprocess.run(args, capture_output=True, text=True, check=True, env=env)
    time.sleep(context.RACY + 0.1)  # the context file is now old enough for its sum to be remembered
    subprocess.run(args, capture_output=True, text=True, check=True, env=env)
    cached = subprocess.run(args, capture_output=True, text=True, check=True, env=env)
    assert cached.stdout == first.stdout
    imported = {line.split("|")[-1].strip() for line in cached.stderr.splitlines() if line.startswith("import time:")}
    never = {
        "typer", "click", "dockerfile_parse", "tarfile", "hashlib", "dataclasses", "typing", "inspect", "shutil",
        "httpx", "sqlite_utils", "bilge.cli", "bilge.store.cli", "bilge.store.catalog", "bilge.store.containers",
        "bilge.store.layerfs", "bilge.store.build.copy", "bilge.store.timeutil",
    }  # fmt: skip
    assert "bilge.store.build.builder" in imported
    assert not never & imported, sorted(never & imported)


# -- Docker's smaller behaviours ------------------------------------------------------------------


def test_the_escape_directive_is_used_in_substitution(store: Store, tmp_path: Path) -> None:
    ctx = write(tmp_path / "ctx", '# escape=`\nFROM scratch\nENV A=x\nENV P=C:\\Windows B=`$A Q="$A`"q"\nWORKDIR C:\\w\n'
                'LABEL l=${A}\\y\n')  # fmt: skip
    image, _ = build(store, ctx)
    found = config(store, image)["config"]
    assert found["Env"][1:] == ["A=x", "P=C:\\Windows", "B=$A", 'Q=x"q']  # moby's ProcessWord with ` as escape
    assert found["Labels"] == {"l": "x\\y"}
    assert found["WorkingDir"] == "/C:\\w"


def test_onbuild_triggers_run_in_the_child_as_docker_runs_them(store: Store, tmp_path: Path) -> None:
    """Docker 20.10 printed the same lines and wrote the same history and config for these two
    Dockerfiles (dockerd, DOCKER_BUILDKIT=0)."""
    base = write(tmp_path / "base", "FROM scratch\nCOPY a /a\nONBUILD COPY a /b\nONBUILD ENV ON=$HOME\n", a="hi\n")
    base_image, lines = build(store, base, tags=("base:1",))
    base_config = config(store, base_image)["config"]
    assert base_config["OnBuild"] == ["COPY a /b", "ENV ON=$HOME"]  # as written: triggers expand when they run
    assert [line for line in lines if "Running in" in line][-1:]  # ONBUILD commits as a container step
    child = write(tmp_path / "child", "FROM base:1\nLABEL child=1\n", a="child\n")
    image, lines = build(store, child)
    assert lines[:2] == ["Step 1/2 : FROM base:1", "# Executing 2 build triggers"]  # COPY's says nothing
    assert lines[2].startswith(" ---> Running in ") and lines[3].startswith("Removing intermediate container ")
    assert lines[4].startswith(" ---> ") and lines[5] == "Step 2/2 : LABEL child=1"
    found = config(store, image)
    assert found["config"]["OnBuild"] is None and found["config"]["Env"][-1] == "ON="
    assert [h["created_by"] for h in found["history"]][-3:] == [
        f"/bin/sh -c #(nop) COPY {context.sources(child, ['a'], context.DockerIgnore([]))[0].checksum} in /b ",
        "/bin/sh -c #(nop)  ENV ON=",
        "/bin/sh -c #(nop)  LABEL child=1",
    ]
    again, lines = build(store, child)
    assert again == image and lines.count(" ---> Using cache") == 3


def test_a_bad_trigger_fails_the_child(store: Store, tmp_path: Path) -> None:
    base = write(tmp_path / "base", "FROM scratch\nENV A=1\n")
    image, _ = build(store, base)
    body = config(store, image)
    body["config"]["OnBuild"] = ["FROM other"]
    from bilge.store.images import child_config  # a config written elsewhere (docker commit --change, say)

    made = child_config(body, body["config"], "c" * 64, body["config"], "x", None)
    with store.lease("test") as lease:
        forged = store.images.create(made, lease, parent=image)
        store.images.tag(forged, reference.parse("forged:1"))
    child = write(tmp_path / "child", "FROM forged:1\nENV B=2\n")
    with pytest.raises(InvalidInput, match="FROM isn't allowed as an ONBUILD trigger"):
        build(store, child)


def test_metadata_steps_announce_their_container(store: Store, tmp_path: Path) -> None:
    """Docker commits ENV, LABEL, WORKDIR and the like from a container and says so; COPY not."""
    ctx = write(tmp_path / "ctx", "FROM scratch\nCOPY a /a\nENV A=1\nWORKDIR /w\n", a="a")
    image, lines = build(store, ctx)
    assert lines[2:4] == ["Step 2/4 : COPY a /a", lines[3]] and "Running in" not in lines[3]
    running = [line.removeprefix(" ---> Running in ") for line in lines if line.startswith(" ---> Running in ")]
    removed = [line.removeprefix("Removing intermediate container ") for line in lines if line.startswith("Removing ")]
    assert len(running) == 2 and running == removed
    assert config(store, image)["container"][:12] == running[-1]
    _, again = build(store, ctx)
    assert not any("Running in" in line for line in again)  # a hit makes no container


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ("--interval=0s", 'Interval "interval" cannot be less than 1ms'),
        ("--interval=-1s", 'Interval "interval" cannot be less than 1ms'),
        ("--interval=500us", 'Interval "interval" cannot be less than 1ms'),
        ("--interval=abc", 'time: invalid duration "abc"'),
        ("--timeout=10", 'time: missing unit in duration "10"'),
        ("--start-period=10x", 'time: unknown unit "x" in duration "10x"'),
        ("--start-interval=.s", 'time: invalid duration ".s"'),
        ("--retries=0", "--retries must be at least 1 (not 0)"),
        ("--retries=abc", 'strconv.ParseInt: parsing "abc": invalid syntax'),
        ("--retries=1e3", 'strconv.ParseInt: parsing "1e3": invalid syntax'),
        ("--retries=9999999999", 'strconv.ParseInt: parsing "9999999999": value out of range'),
        ("--bogus=1", "Unknown flag: bogus"),
    ],
)
def test_healthcheck_options_are_checked_as_docker_checks_them(flags: str, message: str) -> None:
    """Docker 20.10's words for each (dockerd, DOCKER_BUILDKIT=0), with the line."""
    with pytest.raises(InvalidInput) as caught:
        dockerfile.parse(f"FROM scratch\nHEALTHCHECK {flags} CMD true\n")
    assert str(caught.value) == f"dockerfile parse error line 2: {message}"


def test_healthcheck_none_reads_no_options() -> None:
    dockerfile.parse("FROM scratch\nHEALTHCHECK --interval=0s NONE\n")


def test_healthcheck_history_is_dockers(store: Store, tmp_path: Path) -> None:
    """created_by and Healthcheck as Docker 20.10 wrote them for the same lines."""
    ctx = write(
        tmp_path / "ctx",
        "FROM scratch\nHEALTHCHECK --interval=1.5s --timeout=.5s --retries=3 CMD true\n"
        "HEALTHCHECK --retries=300 --timeout=100ms CMD true\nHEALTHCHECK --retries=92 --interval=90m CMD true\n"
        'HEALTHCHECK --retries=39 CMD true\nHEALTHCHECK --interval=1h1m1.5s CMD ["a","b"]\nHEALTHCHECK NONE\n'
        "HEALTHCHECK --start-interval=2s --retries=10 CMD true\n",
    )
    image, _ = build(store, ctx)
    found = config(store, image)
    assert [h["created_by"].removeprefix("/bin/sh -c #(nop)  HEALTHCHECK ") for h in found["history"]] == [
        """&{["CMD-SHELL" "true"] "1.5s" "500ms" "0s" '\\x03'}""",
        """&{["CMD-SHELL" "true"] "0s" "100ms" "0s" 'Ĭ'}""",
        """&{["CMD-SHELL" "true"] "1h30m0s" "0s" "0s" '\\\\'}""",
        """&{["CMD-SHELL" "true"] "0s" "0s" "0s" '\\''}""",
        """&{["CMD" "a" "b"] "1h1m1.5s" "0s" "0s" '\\x00'}""",
        """&{["NONE"] "0s" "0s" "0s" '\\x00'}""",
        """&{["CMD-SHELL" "true"] "0s" "0s" "0s" "2s" '\\n'}""",  # Docker 25's struct, with StartInterval
    ]
    assert found["config"]["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "StartInterval": 2 * 10**9, "Retries": 10}


@pytest.mark.parametrize(
    ("text", "ns", "shown"),
    [
        ("1.5s", 1_500_000_000, "1.5s"), (".5s", 500_000_000, "500ms"), ("1h1m1.5s", 3_661_500_000_000, "1h1m1.5s"),
        ("90m", 5_400_000_000_000, "1h30m0s"), ("0", 0, "0s"), ("-1s", -1_000_000_000, "-1s"), ("1.s", 10**9, "1s"),
        ("500us", 500_000, "500µs"), ("1µs", 1000, "1µs"), ("1μs", 1000, "1µs"), ("7ns", 7, "7ns"),
        ("2562047h47m16.854775807s", 2**63 - 1, "2562047h47m16.854775807s"), ("+2m", 120 * 10**9, "2m0s"),
    ],
)  # fmt: skip
def test_go_durations(text: str, ns: int, shown: str) -> None:
    assert golang.parse_duration(text) == ns
    assert golang.duration_string(ns) == shown


@pytest.mark.parametrize("text", ["", "-", "abc", ".s", "1", "1x", "2562047h47m16.854775808s", "1s2", "s"])
def test_go_refuses_what_go_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="^time: "):
        golang.parse_duration(text)


def test_go_runes() -> None:
    assert [golang.quote_rune(r) for r in (0, 3, 9, 10, 39, 65, 92, 127, 160, 300, 0x1F600)] == [
        "'\\x00'", "'\\x03'", "'\\t'", "'\\n'", "'\\''", "'A'", "'\\\\'", "'\\x7f'", "'\\u00a0'", "'Ĭ'", "'😀'",
    ]  # fmt: skip


# -- ADD <url> ------------------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`python -m http.server` on loopback over a directory: its URL and the directory."""
    directory = tmp_path / "served"
    directory.mkdir()
    with serve(directory) as url:
        yield url, directory


def _layer(store: Store, image: str, index: int = -1) -> dict[str, tarfile.TarInfo]:
    chain = store.images.chain(image)
    data = b"".join(store.layers.tar(chain[index]))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {m.name: m for m in tf.getmembers()}


def test_add_of_a_url_downloads_as_docker_does(store: Store, tmp_path: Path, served: tuple[str, Path]) -> None:
    url, directory = served
    (directory / "f.txt").write_text("hello url\n")
    os.utime(directory / "f.txt", (1614834367, 1614834367))  # 2021-03-04 05:06:07 UTC
    ctx = write(tmp_path / "ctx", f"FROM scratch\nADD {url}/f.txt /a/\nADD {url}/f.txt?x=1#frag /b\n")
    image, _ = build(store, ctx)
    history = [h["created_by"] for h in config(store, image)["history"]]
    if os.geteuid() == 0:  # Docker's daemon downloads as root; the sum holds the owner's names
        assert (
            history[0]
            == "/bin/sh -c #(nop) ADD dc9142636ca715ec08473e238aeb52183b9b6b3c6e342363507f316a4282c131 in /a/ "
        )
    assert history[1].startswith("/bin/sh -c #(nop) ADD ") and history[1].endswith(" in /b ")
    assert history[0].split()[4] == history[1].split()[4]  # the query is not the file's name; the content is the same
    entries = _layer(store, image, 0)
    assert set(entries) == {"a", "a/f.txt"}
    member = entries["a/f.txt"]
    assert (member.mode, member.mtime, member.uid, member.gid, member.size) == (0o600, 1614834367, 0, 0, 10)
    assert set(_layer(store, image, 1)) == {"b"}
    again, lines = build(store, ctx)
    assert again == image and lines.count(" ---> Using cache") == 2
    (directory / "f.txt").write_text("hello URL\n")
    os.utime(directory / "f.txt", (1614834367, 1614834367))  # the same time: the content decides
    changed, lines = build(store, ctx)
    assert changed != image and " ---> Using cache" not in lines


def test_add_of_a_url_without_a_name_or_a_time(store: Store, tmp_path: Path, served: tuple[str, Path]) -> None:
    """A directory listing has no file name and no Last-Modified: Docker calls it __unnamed__
    in its sum, writes it at a destination that names the file, with the epoch as its mtime,
    and cannot put it into a directory."""
    url, directory = served
    (directory / "x").write_text("x")
    ctx = write(tmp_path / "ctx", f"FROM scratch\nADD {url}/ /listing\n")
    image, _ = build(store, ctx)
    member = _layer(store, image)["listing"]
    assert (member.mode, member.mtime) == (0o600, 0)
    write(ctx, f"FROM scratch\nADD {url}/ /d/\n")
    with pytest.raises(InvalidInput, match=f"ADD failed: cannot determine filename for source {url}/$"):
        build(store, ctx)


def test_add_of_a_missing_url_and_copy_of_one(store: Store, tmp_path: Path, served: tuple[str, Path]) -> None:
    url, _ = served
    ctx = write(tmp_path / "ctx", f"FROM scratch\nADD {url}/nope /x\n")
    with pytest.raises(InvalidInput, match=f"^ADD failed: failed to GET {url}/nope with status 404 File not found: "):
        build(store, ctx)
    write(ctx, f"FROM scratch\nCOPY {url}/nope /x\n")
    with pytest.raises(InvalidInput, match="^COPY failed: source can't be a URL for COPY$"):
        build(store, ctx)


def test_a_url_archive_is_not_unpacked(store: Store, tmp_path: Path, served: tuple[str, Path]) -> None:
    url, directory = served
    with tarfile.open(directory / "bundle.tar", "w") as tf:
        info = tarfile.TarInfo("inner")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"hi"))
    ctx = write(tmp_path / "ctx", f"FROM scratch\nADD {url}/bundle.tar /opt/\n")
    image, _ = build(store, ctx)
    assert set(_layer(store, image)) == {"opt", "opt/bundle.tar"}


def test_last_modified_sets_the_mtime(tmp_path: Path) -> None:
    """http.ParseTime's formats; the epoch when the header does not parse."""
    from bilge.store.build import remote

    assert remote._http_time("Thu, 04 Mar 2021 05:06:07 GMT") == 1614834367
    assert remote._http_time("Thursday, 04-Mar-21 05:06:07 GMT") == 1614834367
    assert remote._http_time("Thu Mar  4 05:06:07 2021") == 1614834367
    assert remote._http_time("yesterday") == 0 and remote._http_time(None) == 0
    assert remote._filename("http://h/a/b.txt?q=1", None) == "b.txt"
    assert remote._filename("http://h/dir/", 'attachment; filename="x/y.bin"') == "y.bin"
    assert remote._filename("http://h/", None) == ""


# -- the lease, taken when the build first makes something ----------------------------------------


def test_a_build_that_is_all_cache_writes_nothing(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No lease, no tag moved, nothing remembered anew: the database is only read (so the
    process ends with nothing to checkpoint)."""
    monkeypatch.setattr(context, "RACY", 0.0)
    ctx = write(tmp_path / "ctx", "FROM scratch\nCOPY a /a\nENV X=1\n", a="a")
    time.sleep(0.05)
    first, _ = build(store, ctx, tags=("t:1",))
    before = store.db.conn.total_changes
    monkeypatch.setattr(Store, "lease", lambda self, purpose: pytest.fail("a cached build takes no lease"))
    again, lines = build(store, ctx, tags=("t:1",))
    assert again == first and lines[-1] == "Successfully tagged t:1"
    assert store.db.conn.total_changes == before


def test_a_new_tag_on_cached_steps_takes_the_lease(store: Store, tmp_path: Path) -> None:
    ctx = write(tmp_path / "ctx", "FROM scratch\nENV X=1\n")
    first, _ = build(store, ctx, tags=("t:1",))
    taken: list[str] = []
    real = Store.lease

    def watching(self: Store, purpose: str):  # type: ignore[no-untyped-def]
        taken.append(purpose)
        return real(self, purpose)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Store, "lease", watching)
        again, _ = build(store, ctx, tags=("t:2",))
    assert again == first and taken == ["build"]
    assert store.images.resolve("t:2") == first
    assert store.db.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0


def test_a_cache_hit_pruned_before_the_lease_is_built_again(store: Store, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """A prune takes the hit between the lookup and the lease: taking the lease sees it gone,
    and the build starts again holding its lease from the start, making what was taken."""
    from bilge.store.build import builder
    from bilge.store.db import write as write_transaction

    ctx = write(tmp_path / "ctx", "FROM scratch\nENV A=1\nENV B=2\n")
    old, _ = build(store, ctx)
    hit = store.images.get(old)["parent"]
    (ctx / "Dockerfile").write_text("FROM scratch\nENV A=1\nENV B=3\n")
    real = builder.Hold.lease
    pruned: list[str] = []

    def prune_first(self: builder.Hold):  # type: ignore[no-untyped-def]
        if not pruned:
            with write_transaction(store.db):
                store.images.delete_rows([old, hit])
            pruned.append(hit)
        return real(self)

    monkeypatch.setattr(builder.Hold, "lease", prune_first)
    image, lines = build(store, ctx)
    assert f"[Warning] {hit[7:19]} was pruned during the build: building again under its lease" in lines
    made = store.images.get(image)["parent"]
    assert made != hit and store.images.exists(made) and not store.images.exists(hit)
    assert config(store, image)["config"]["Env"][-2:] == ["A=1", "B=3"]


def test_a_steps_child_is_remembered_and_the_newest_wins(store: Store, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The second build finds each step's child in the memo, reading no child's config; after
    a --no-cache build the newest children are the hits, as the classic cache picks; a child
    that is gone is looked up again."""
    from bilge.store.build import cache
    from bilge.store.db import write as write_transaction

    ctx = write(tmp_path / "ctx", "FROM scratch\nENV A=1\nLABEL b=2\n")
    first, _ = build(store, ctx)
    real = cache.lookup
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cache, "lookup", lambda *a: pytest.fail("the memo knows the child"))
        assert build(store, ctx)[0] == first
    time.sleep(0.01)  # a later `added`
    rebuilt, _ = build(store, ctx, no_cache=True)
    assert rebuilt != first  # new times, new IDs
    assert build(store, ctx)[0] == rebuilt
    with write_transaction(store.db):
        store.images.delete_rows([rebuilt, store.images.get(rebuilt)["parent"]])
    looked: list[str | None] = []
    monkeypatch.setattr(cache, "lookup", lambda s, parent, recorded: looked.append(parent) or real(s, parent, recorded))
    assert build(store, ctx)[0] == first and looked == [None]  # the step FROM scratch; its child knew the next


def test_file_is_found_from_where_we_are_as_docker_finds_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """`-f` names a Dockerfile relative to the current directory, not to the context."""
    ctx = write(tmp_path / "ctx", "FROM scratch\nENV WRONG=1\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "Other.dockerfile").write_text("FROM scratch\nENV RIGHT=1\n")
    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.setattr(session, "_current", session.Settings(tmp_path / "store"))
    command.run(str(ctx), file="Other.dockerfile", quiet=True)
    image = capsys.readouterr().out.strip()
    opened = Store(tmp_path / "store")
    try:
        assert config(opened, image)["config"]["Env"][-1] == "RIGHT=1"
    finally:
        opened.close()
