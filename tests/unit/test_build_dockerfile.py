"""The Dockerfile front end (store/build/dockerfile.py) on its own: stages and instructions as
moby's parser splits them, Docker's shell-word substitution, and Docker's errors, each naming
its line.

Oracles: the fixture Dockerfiles with what Docker 20.10 recorded for them in history.jsonl (a
continued RUN joined, ENV and LABEL values substituted), the cases of moby's own lexer tests
(buildkit frontend/dockerfile/shell envVarTest and wordsTest, v0.8 as Docker 20.10 vendors it),
and the examples of Docker's Dockerfile reference.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bilge.store.build.dockerfile import Instruction, arg_pairs, pairs, parse, substitute, words
from bilge.store.errors import InvalidInput

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "docker"


def only(text: str) -> Instruction:
    """The one instruction after a FROM."""
    (stage,) = parse("FROM scratch\n" + text)
    (instruction,) = stage.instructions
    return instruction


def error(text: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse(text)
    message = str(caught.value)
    assert "\n" not in message
    return message


# -- the fixture Dockerfiles, against what Docker recorded ------------------------------------------


def _recorded() -> set[str]:
    """Each step's command as Docker recorded it: history.jsonl for the tagged images, the
    intermediate images' ContainerConfig.Cmd (inspect.json) for a stage left untagged."""
    history = {json.loads(line)["CreatedBy"] for line in (FIXTURES / "history.jsonl").read_text().splitlines()}
    images = json.loads((FIXTURES / "inspect.json").read_text())
    return history | {" ".join(i["ContainerConfig"]["Cmd"] or []) for i in images if i.get("ContainerConfig")}


@pytest.mark.parametrize("name", ["app-v1", "app-v2", "busybox", "multistage", "zoo"])
def test_fixture_dockerfiles_reproduce_dockers_history(name: str) -> None:
    """Every step Docker recorded without a checksum: RUN as `/bin/sh -c <joined line>` (or its
    exec form), ENV and LABEL as `name=value` after substitution, other metadata as written."""
    recorded = _recorded()
    stages = parse((FIXTURES / "contexts" / name / "Dockerfile").read_text())
    checked = 0
    for stage in stages:
        env: dict[str, str] = {}
        for instruction in stage.instructions:
            keyword = instruction.keyword
            if keyword == "RUN":
                shown = " ".join(instruction.args) if instruction.json else "/bin/sh -c " + instruction.args[0]
            elif keyword in ("ENV", "LABEL"):
                values = [(substitute(k, env), substitute(v, env)) for k, v in pairs(instruction)]
                if keyword == "ENV":
                    env.update(values)
                shown = f"/bin/sh -c #(nop)  {keyword} " + " ".join(f"{k}={v}" for k, v in values)
            elif keyword in ("WORKDIR",):
                shown = f"/bin/sh -c #(nop) {keyword} {instruction.args[0]}"
            elif keyword in ("USER", "EXPOSE"):
                shown = f"/bin/sh -c #(nop)  {keyword} {' '.join(instruction.args)}"
            else:
                continue
            assert shown in recorded, instruction
            checked += 1
    assert checked


def test_fixture_structure() -> None:
    multistage = parse((FIXTURES / "contexts" / "multistage" / "Dockerfile").read_text())
    assert [(s.name, s.base, s.line, s.original) for s in multistage] == [
        ("builder", "busybox:latest", 1, "FROM busybox:latest AS builder"),
        (None, "scratch", 3, "FROM scratch"),
    ]
    copy, cmd = multistage[1].instructions
    assert (copy.line, copy.keyword, copy.args, copy.json, copy.flags) == (
        4,
        "COPY",
        ["/out", "/"],
        False,
        {"from": "builder"},
    )
    assert (cmd.line, cmd.args, cmd.json) == (5, ["/artifact"], True)

    (zoo,) = parse((FIXTURES / "contexts" / "zoo" / "Dockerfile").read_text())
    lines = [(i.line, i.keyword) for i in zoo.instructions]
    assert lines[:5] == [(2, "LABEL"), (3, "ENV"), (4, "RUN"), (7, "RUN"), (8, "RUN")]  # continued lines count
    assert lines[-1] == (16, "CMD")
    assert zoo.instructions[-2].args == ["/bin/sh", "-c"] and zoo.instructions[-2].json


# -- lines: continuations, comments, the escape directive ------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "args"),
    [
        ("RUN echo a \\\n    && echo b\n", 2, ["echo a     && echo b"]),  # the next line's blanks are kept
        ("RUN echo a \\\n# a comment is dropped\n  b\n", 2, ["echo a   b"]),
        ("RUN echo a\\  \n b\n", 2, ["echo a b"]),  # blanks after the continuation character
        ("RUN \\\n  echo hi\n", 2, ["echo hi"]),
        ("RUN\\\n  echo hi\n", 2, ["echo hi"]),  # no blank before the continuation
        ("\n\n# comment\n   RUN   echo   x   \n", 5, ["echo   x"]),
        ("RUN a \\\r\n b\r\n", 2, ["a  b"]),  # CRLF
        ("run echo lower\n", 2, ["echo lower"]),
        ("RUN echo last line without a newline", 2, ["echo last line without a newline"]),
        ("RUN echo # not a comment\n", 2, ["echo # not a comment"]),
    ],
)
def test_lines(text: str, line: int, args: list[str]) -> None:
    instruction = only(text)
    assert (instruction.line, instruction.keyword, instruction.args) == (line, "RUN", args)


def test_escape_directive_backtick() -> None:
    (stage,) = parse("# escape=`\nFROM scratch\nCOPY a\\b `\n  c:\\d\\\n")
    (copy,) = stage.instructions
    assert (copy.line, copy.args, stage.escape) == (3, ["a\\b", "c:\\d\\"], "`")
    assert substitute("c:\\d `$X", {"X": "1"}, stage.escape) == "c:\\d $X"


@pytest.mark.parametrize(
    "text",
    [
        "# syntax=docker/dockerfile:1\n# escape=`\nFROM scratch\n",
        "#ESCAPE = `\nFROM scratch\n",
        "\ufeff# escape=`\nFROM scratch\n",
    ],
)
def test_escape_directive_forms(text: str) -> None:
    assert parse(text)[0].escape == "`"


@pytest.mark.parametrize(
    "text",
    [
        "FROM scratch\n# escape=`\n",  # after an instruction: a comment
        "# hello\n# escape=`\nFROM scratch\n",  # after a comment
        "\n# escape=`\nFROM scratch\n",  # after a blank line
    ],
)
def test_escape_directive_only_at_the_top(text: str) -> None:
    assert parse(text)[0].escape == "\\"


def test_bom_and_original() -> None:
    (stage,) = parse("\ufeffFROM  alpine AS Base\nrun  echo \\\n  hi\n")
    assert (stage.name, stage.base, stage.original) == ("base", "alpine", "FROM alpine AS Base")
    assert stage.instructions[0].original == "run echo   hi"


# -- arguments: exec and shell form, flags, name=value -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "args", "is_json"),
    [
        ('CMD ["a", "b c"]', ["a", "b c"], True),
        ("CMD a b", ["a b"], False),
        ('CMD ["a", "b"', ['["a", "b"'], False),  # not JSON: shell form
        ("CMD [not json]", ["[not json]"], False),
        ('ENTRYPOINT ["/bin/sh", "-c"]', ["/bin/sh", "-c"], True),
        ('SHELL ["/bin/bash", "-c"]', ["/bin/bash", "-c"], True),
        ("COPY a  b\tc", ["a", "b", "c"], False),
        ('COPY ["a b", "c"]', ["a b", "c"], True),
        ("VOLUME /a /b", ["/a", "/b"], False),
        ('VOLUME ["/c"]', ["/c"], True),
        ("EXPOSE 80 443/udp", ["80", "443/udp"], False),
        ("WORKDIR /a b", ["/a b"], False),
        ("USER 1000:1000", ["1000:1000"], False),
        ("HEALTHCHECK CMD curl -f http://x/", ["CMD", "curl -f http://x/"], False),
        ('HEALTHCHECK CMD ["curl", "x"]', ["CMD", "curl", "x"], True),
        ("HEALTHCHECK NONE", ["NONE"], False),
        ("ONBUILD RUN echo hi", ["RUN echo hi"], False),
        ("STOPSIGNAL SIGTERM", ["SIGTERM"], False),
        ("MAINTAINER someone <a@b>", ["someone <a@b>"], False),
        ("RUN", [], False),
    ],
)
def test_arguments(text: str, args: list[str], is_json: bool) -> None:
    instruction = only(text)
    assert (instruction.args, instruction.json) == (args, is_json)


@pytest.mark.parametrize(
    ("text", "flags", "args"),
    [
        ("COPY --from=builder /out /", {"from": "builder"}, ["/out", "/"]),
        ("COPY --chown=1000:1000 --from=alpine:3 a b", {"chown": "1000:1000", "from": "alpine:3"}, ["a", "b"]),
        ('COPY --chown="app user" a b', {"chown": "app user"}, ["a", "b"]),
        ("COPY --chown=a\\ b x y", {"chown": "a b"}, ["x", "y"]),
        ("COPY -- --not-a-flag b", {}, ["--not-a-flag", "b"]),
        ("ADD --chown=1:2 a b", {"chown": "1:2"}, ["a", "b"]),
        ("COPY a --from=x b", {}, ["a", "--from=x", "b"]),  # flags only lead
        ("HEALTHCHECK --interval=5s --retries=3 CMD true", {"interval": "5s", "retries": "3"}, ["CMD", "true"]),
    ],
)
def test_flags(text: str, flags: dict[str, str], args: list[str]) -> None:
    instruction = only(text)
    assert (instruction.flags, instruction.args) == (flags, args)


def test_from_platform_and_stage_names() -> None:
    stages = parse("FROM --platform=linux/arm64 a AS One\nFROM b as two\nFROM c\n")
    assert [(s.name, s.base, s.platform) for s in stages] == [
        ("one", "a", "linux/arm64"),
        ("two", "b", None),
        (None, "c", None),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ENV A=1 B=2", [("A", "1"), ("B", "2")]),
        ('ENV A="x y" B=z\\ w', [("A", '"x y"'), ("B", "z\\ w")]),
        ("ENV A x  y z", [("A", "x  y z")]),  # legacy form: the rest of the line
        ('LABEL "com.x"="v" y=', [('"com.x"', '"v"'), ("y", "")]),
        ("LABEL a=b\\\n  c=d", [("a", "b"), ("c", "d")]),
    ],
)
def test_pairs(text: str, expected: list[tuple[str, str]]) -> None:
    assert pairs(only(text)) == expected


def test_pairs_substituted_as_docker_documents() -> None:
    """The reference's example: each ENV sees the values from before it, not its own."""
    env: dict[str, str] = {}
    for text in ["ENV abc=hello", "ENV abc=bye def=$abc", "ENV ghi=$abc"]:
        env.update({k: substitute(v, env) for k, v in pairs(only(text))})
    assert env == {"abc": "bye", "def": "hello", "ghi": "bye"}


def test_arg_pairs_and_meta_args() -> None:
    stages = parse('ARG BASE=alpine\nARG TAG\nFROM $BASE:${TAG:-3}\nARG X Y="1 2" Z=\n')
    assert stages[0].meta_args == [("BASE", "alpine"), ("TAG", None)]
    assert substitute(stages[0].base, {"BASE": "alpine"}) == "alpine:3"
    assert arg_pairs(stages[0].instructions[0]) == [("X", None), ("Y", '"1 2"'), ("Z", "")]
    with pytest.raises(ValueError):
        pairs(stages[0].instructions[0])
    with pytest.raises(ValueError):
        arg_pairs(only("ENV A=1"))


# -- errors, worded as Docker words them, with their line -------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM a\nRUN x\nFOO bar\n", "line 3: unknown instruction: FOO"),
        ("FROM a\nfoo\n", "line 2: unknown instruction: FOO"),
        ("RUN x\n", "line 1: no build stage in current context"),
        ("ARG A=1\n", "line 1: no build stage in current context"),
        ("# only a comment\n\n", "line 1: file with no instructions"),
        ("FROM a\nRUN a \\\n\n  b\n", "line 3: empty continuation line"),
        ("FROM a\nRUN a \\\\\nRUN b\n", "line 2: a line ending in \\\\"),
        ("FROM a b\n", "line 1: FROM requires either one or three arguments"),
        ("FROM a AS 1b\n", 'line 1: invalid name for build stage: "1b", name can\'t start with a number'),
        ("FROM a AS x\nFROM b AS X\n", "line 2: x stage name already used"),
        ("FROM a\nCOPY a\n", "line 2: COPY requires at least two arguments, but only one was provided."),
        ("FROM a\nCOPY --chmod=644 a b\n", "line 2: the --chmod option requires BuildKit"),
        ("FROM a\nCOPY --frm=x a b\n", "line 2: Unknown flag: frm"),
        ("FROM a\nCOPY --from a b\n", "line 2: Missing a value on flag: from"),
        ("FROM a\nCOPY --from=x --from=y a b\n", "line 2: Duplicate flag specified: from"),
        ("FROM a\nRUN --mount=type=cache,target=/x make\n", "line 2: Unknown flag: mount"),
        ("FROM a\nCOPY --from=0 a b\n", "line 2: invalid from flag value 0: refers to current build stage"),
        ("FROM a AS x\nCOPY --from=X a b\n", "line 2: invalid from flag value X: refers to current build stage"),
        ("FROM a\nFROM b\nCOPY --from=2 a b\n", "line 3: invalid from flag value 2: index out of bounds"),
        ("FROM a\nCOPY --from=-1 a b\n", "line 2: invalid from flag value -1: index out of bounds"),
        (
            "FROM a\nCOPY --from=later a b\nFROM c AS later\n",
            "line 2: invalid from flag value later: the stage is defined after",
        ),
        ('FROM a\nCMD ["a", 1]\n', "line 2: when using JSON array syntax, arrays must be comprised of strings only"),
        ("FROM a\nENV A\n", "line 2: ENV must have two arguments"),
        ("FROM a\nENV A=1 B\n", 'line 2: Syntax error - can\'t find = in "B". Must be of the form: name=value'),
        ("FROM a\nENV =1\n", "line 2: ENV names can not be blank"),
        ("FROM a\nLABEL\n", "line 2: LABEL requires at least one argument"),
        ("FROM a\nARG =1\n", "line 2: ARG names can not be blank"),
        ("FROM a\nUSER\n", "line 2: USER requires exactly one argument"),
        ("FROM a\nWORKDIR\n", "line 2: WORKDIR requires exactly one argument"),
        ("FROM a\nEXPOSE\n", "line 2: EXPOSE requires at least one argument"),
        ('FROM a\nVOLUME [""]\n', "line 2: VOLUME specified can not be an empty string"),
        ("FROM a\nSHELL /bin/bash -c\n", "line 2: SHELL requires the arguments to be in JSON form"),
        ("FROM a\nSHELL []\n", "line 2: SHELL requires at least one argument"),
        ("FROM a\nHEALTHCHECK NONE x\n", "line 2: HEALTHCHECK NONE takes no arguments"),
        ("FROM a\nHEALTHCHECK CMD\n", "line 2: Missing command after HEALTHCHECK CMD"),
        ("FROM a\nHEALTHCHECK RUN x\n", 'line 2: Unknown type "RUN" in HEALTHCHECK (try CMD)'),
        ("FROM a\nONBUILD ONBUILD RUN x\n", "line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("FROM a\nONBUILD FROM b\n", "line 2: FROM isn't allowed as an ONBUILD trigger"),
        ("FROM a\nONBUILD FOO\n", "line 2: unknown instruction: FOO"),
        (
            'FROM a\nWORKDIR "/app\n',
            'line 2: failed to process "\\"/app": unexpected end of statement while looking for matching double-quote',
        ),
        (
            "FROM a\nENV A='x\n",
            'line 2: failed to process "\'x": unexpected end of statement while looking for matching single-quote',
        ),
        ("FROM a\nCOPY ${SRC /x\n", "line 2: failed to process \"${SRC\": syntax error: missing '}'"),
        ("FROM a\nUSER ${}\n", 'line 2: failed to process "${}": syntax error: bad substitution'),
        ("FROM $X:${Y\n", "line 1: failed to process"),
        # moby splits COPY's words at blanks before the lexer sees them: Docker fails when it runs
        ('FROM a\nCOPY "a b" c\n', 'line 2: failed to process "\\"a": unexpected end of statement'),
        ("# escape=x\nFROM a\n", "line 1: invalid escape token 'x' does not match ` or \\"),
        ("# escape=`\n# escape=\\\nFROM a\n", "line 2: only one escape parser directive can be used"),
    ],
)
def test_errors(text: str, message: str) -> None:
    assert error(text).startswith("dockerfile parse error " + message)


def test_shell_forms_are_not_checked_by_the_lexer() -> None:
    """RUN, CMD and ENTRYPOINT go to the shell unsubstituted: their quotes are the shell's."""
    assert only('RUN echo "unterminated').args == ['echo "unterminated']


# -- substitution (ProcessWord): moby's envVarTest --------------------------------------------------

LEX_ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("hello", "hello"),
        ("he'll'o", "hello"),
        ("he\\'llo", "he'llo"),
        ("abc\\tdef", "abctdef"),
        ('"abc\\tdef"', "abc\\tdef"),
        ('"abc\\\\tdef"', "abc\\tdef"),
        ("'abc\\tdef'", "abc\\tdef"),
        ("hello\\", "hello"),
        ("hello\\\\", "hello\\"),
        ('"hel\'lo"', "hel'lo"),
        ("'hello\\'", "hello\\"),
        ("'hello\\\\there'", "hello\\\\there"),
        ("\"''\"", "''"),
        ("$.", "$."),
        ("he$1x", "hex"),
        ("he$.x", "he$.x"),
        ("he$pwd.", "he."),
        ("he$PWD", "he/home"),
        ("he\\$PWD", "he$PWD"),
        ("he\\\\$PWD", "he\\/home"),
        ('"he\\$PWD"', "he$PWD"),
        ('"he\\\\$PWD"', "he\\/home"),
        ("\\${}", "${}"),
        ("he\\${}xx", "he${}xx"),
        ("he${hi}xx", "hexx"),
        ("he${PWD}", "he/home"),
        ("he${XXX:-000}xx", "he000xx"),
        ("he${PWD:-000}xx", "he/homexx"),
        ("he${XXX:-$PWD}xx", "he/homexx"),
        ("he${XXX:-${PWD:-yyy}}xx", "he/homexx"),
        ("he${XXX:-${YYY:-yyy}}xx", "heyyyxx"),
        ("he${PWD?}", "he/home"),
        ("he${PWD:?}", "he/home"),
        ("he${NULL?}", "he"),
        ("he${XXX:+${PWD}}xx", "hexx"),
        ("he${PWD:+${XXX}}xx", "hexx"),
        ("he${PWD:+${SHELL}}xx", "hebashxx"),
        ("he${XXX:+000}xx", "hexx"),
        ("he${PWD:+000}xx", "he000xx"),
        ("'he${XX}'", "he${XX}"),
        ('"he${PWD}"', "he/home"),
        ("\"he'$PWD'\"", "he'/home'"),
        ("'$PWD'", "$PWD"),
        ("'\\$PWD'", "\\$PWD"),
        ("he${PWD:+${PWD}:}xx", "he/home:xx"),
        ("he${XXX:-\\$PWD:}xx", "he$PWD:xx"),
        ("he${XXX:-\\${PWD}z}xx", "he${PWDz}xx"),
        ("안'녕'하세요", "안녕하세요"),
        ("안녕$KOREAN", "안녕한국어"),
        ("${aaa}}", "}"),
        ("${aaa:-bbb}}", "bbb}"),
        ("${aaa:-bbb {foo}", "bbb {foo"),
        ("${999:-bbb}aaa", "bbbaaa"),
        ("$999aaa", "aaa"),
        ("$@@@", "@@"),
        ("${#:-bbb}", "bbb"),
        ("${0}", ""),
        # the forms without a colon: only unset counts, an empty value is kept
        ("${NULL-d}", ""),
        ("${XXX-d}", "d"),
        ("${NULL+a}", "a"),
        ("${XXX+a}", ""),
        ("${NULL:-d}", "d"),
        ("${NULL:+a}", ""),
        ("a  b", "a  b"),  # blanks are kept
    ],
)
def test_substitute(word: str, expected: str) -> None:
    assert substitute(word, LEX_ENV) == expected


@pytest.mark.parametrize(
    ("word", "why"),
    [
        ("he'llo", "matching single-quote"),
        ("he\\\\'llo", "matching single-quote"),
        ('"hello', "matching double-quote"),
        ('"hello\\"', "matching double-quote"),
        ("${}", "bad substitution"),
        ("he${.}", "unsupported modifier (.) in substitution"),
        ("he${XXX:YYY}", "unsupported modifier (:Y) in substitution"),
        ("he${XXX?}", "XXX: is not allowed to be unset"),
        ("he${XXX:?}", "XXX: is not allowed to be unset"),
        ("he${NULL:?}", "NULL: is not allowed to be empty"),
        ("${XXX?needed}", "XXX: needed"),
        ("he${PWD", "missing '}'"),
        ("he${PWD:=000}xx", "unsupported modifier (:=) in substitution"),
        ("${{aaa}", "bad substitution"),
        ("${aaa:-bbb", "missing '}'"),
        ("${aaa:-bbb ${foo}", "missing '}'"),
        ("${:-bbb}", "bad substitution"),
    ],
)
def test_substitute_errors(word: str, why: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        substitute(word, LEX_ENV)
    assert str(caught.value).startswith(f"failed to process {json.dumps(word, ensure_ascii=False)}: ")
    assert why in str(caught.value)


# -- words (ProcessWords): moby's wordsTest ---------------------------------------------------------

WORDS_ENV = {"hi": "hi", "space": "abc  def", "leading": "  ab c", "trailing": "ab c   "}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", ["hello"]),
        ("hello${missing}bye", ["hellobye"]),
        ("hello${hi}bye", ["hellohibye"]),
        ("hello${space}bye", ["helloabc", "defbye"]),
        ('hello"${space}"bye', ["helloabc  defbye"]),
        ('hello "${space}"bye', ["hello", "abc  defbye"]),
        ("hello${leading}def", ["hello", "ab", "cdef"]),
        ('hello"${leading}" def', ["hello  ab c", "def"]),
        ("hello${leading}", ["hello", "ab", "c"]),
        ("hello${trailing}", ["helloab", "c"]),
        ("hello${trailing}d", ["helloab", "c", "d"]),
        ('hello"${trailing}"d', ["helloab c   d"]),
        ('hello" there  "', ["hello there  "]),
        ("hello there     ", ["hello", "there"]),
        ("hello\\ there", ["hello there"]),
        ('hello\\" there', ['hello"', "there"]),
        ("hello'$there'", ["hello$there"]),
        ('a "" b', ["a", "b"]),  # an empty quoted word vanishes, as in moby
    ],
)
def test_words(text: str, expected: list[str]) -> None:
    assert words(text, WORDS_ENV) == expected


def test_words_error() -> None:
    with pytest.raises(InvalidInput, match="matching double-quote"):
        words('hello" there', WORDS_ENV)


def test_docs_examples() -> None:
    """The Dockerfile reference's environment replacement example."""
    env = {"FOO": "/bar"}
    assert substitute("${FOO}", env) == "/bar"  # WORKDIR ${FOO}
    assert words(" ".join(only("ADD . $FOO").args), env) == [".", "/bar"]
    assert [substitute(a, env) for a in only("COPY \\$FOO /quux").args] == ["$FOO", "/quux"]
    assert substitute("${variable:-word}", {}) == "word"
    assert substitute("${variable:-word}", {"variable": "set"}) == "set"
    assert substitute("${variable:+word}", {"variable": "set"}) == "word"
    assert substitute("${variable:+word}", {}) == ""
