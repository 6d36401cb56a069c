"""A Dockerfile as Docker's classic builder reads it: stages of instructions, nothing substituted.

dockerfile-parse joins the lines (continuations, comments, the escape directive); this module
splits each instruction the way moby's parser does (flags, exec or shell form, name=value pairs)
and checks, before anything runs, what Docker would only find out step by step, with Docker's
words and the line: "dockerfile parse error line 3: unknown instruction: FOO".

Variables are not substituted while parsing, because their values change as ENV and ARG run:
the executor calls `substitute` (one word, Docker's ProcessWord: ENV, LABEL, ARG, COPY, ADD,
WORKDIR, USER, VOLUME, STOPSIGNAL, FROM) or `words` (ProcessWords: EXPOSE) with the environment
of the moment and the stage's escape character, after `pairs` (ENV, LABEL) or `arg_pairs` (ARG)
has split the names from the values.

Stricter than Docker 20.10 on purpose, each a warning or a late failure there: an empty line
inside a continuation is an error; so are COPY --from naming the stage itself or a later one,
and shell-word syntax errors (an unterminated quote, a missing `}`) in the instructions above.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping

from ..errors import InvalidInput
from .record import Record

_KEYWORDS = frozenset(
    "ADD ARG CMD COPY ENTRYPOINT ENV EXPOSE FROM HEALTHCHECK LABEL MAINTAINER ONBUILD RUN SHELL STOPSIGNAL "
    "USER VOLUME WORKDIR".split()
)
_FLAGS = {  # what the classic builder accepts; any other flag is an error
    "ADD": ("chown", "chmod"),
    "COPY": ("chown", "chmod", "from"),
    "FROM": ("platform",),
    "HEALTHCHECK": ("interval", "timeout", "start-period", "start-interval", "retries"),  # start-interval: Docker 25
}
_EXPANDED = frozenset("ADD ARG COPY ENV EXPOSE FROM LABEL STOPSIGNAL USER VOLUME WORKDIR".split())

# Patterns, compiled by `re` when a parse first needs them: a remembered parse needs none.
_DIRECTIVE = r"([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$"
_FIELDS = r"[\t\v\f\r ]+"  # moby's reWhitespace
_STAGE_NAME = r"[a-z][a-z0-9-_.]*"
_INDEX = r"[+-]?[0-9]+"


class Instruction(Record):
    """One instruction as written, with moby's split of its arguments.

    `args`: the exec form's strings when `json`; else what moby's parser keeps, quotes and `$`
    untouched — RUN, CMD, ENTRYPOINT, SHELL, USER, WORKDIR, STOPSIGNAL, MAINTAINER and ONBUILD
    one string (the rest of the line), COPY, ADD, VOLUME, EXPOSE and FROM the words split at
    blanks, ENV and LABEL name, value, name, value… (read them with `pairs`), ARG `name` or
    `name=default` words, HEALTHCHECK its type (CMD or NONE) then the command.
    `original`: the instruction's text with continuation lines joined.
    """

    __slots__ = ("line", "keyword", "original", "args", "json", "flags")

    def __init__(
        self,
        line: int,
        keyword: str,
        original: str,
        args: list[str],
        json: bool = False,
        flags: dict[str, str] | None = None,
    ) -> None:
        self.line, self.keyword, self.original, self.args = line, keyword, original, args
        self.json, self.flags = json, flags if flags is not None else {}


class Stage(Record):
    """FROM and the instructions up to the next FROM.

    `name` is lower-case (stage names are case-insensitive); `base` and `platform` are
    unsubstituted: they see only the `meta_args`, the ARGs before the first FROM (name and
    default, as `arg_pairs` gives them), which every stage shares. `original` is the FROM line,
    `escape` the Dockerfile's escape character, for `substitute` and `words`.
    """

    __slots__ = ("name", "base", "platform", "line", "instructions", "meta_args", "original", "escape")

    def __init__(
        self,
        name: str | None,
        base: str,
        platform: str | None,
        line: int,
        instructions: list[Instruction],
        meta_args: list[tuple[str, str | None]] | None = None,
        original: str = "",
        escape: str = "\\",
    ) -> None:
        self.name, self.base, self.platform, self.line = name, base, platform, line
        self.instructions, self.meta_args = instructions, meta_args if meta_args is not None else []
        self.original, self.escape = original, escape


class _Error(Exception):
    """A problem with one instruction; `parse` adds the line."""


def parse(text: str) -> list[Stage]:
    """The stages of a Dockerfile, checked as far as they can be before a build runs."""
    text = text.removeprefix("\ufeff")
    if not text.endswith("\n"):
        text += "\n"  # dockerfile-parse drops a last line that has no newline and no argument
    import io

    from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]  # a remembered parse needs none

    entries = DockerfileParser(fileobj=io.BytesIO(text.encode()), env_replace=False).structure
    escape = _escape(entries)
    found = [_from_entry(entry, escape) for entry in entries if entry["instruction"] != "COMMENT"]
    if not found:
        raise InvalidInput("dockerfile parse error line 1: file with no instructions")
    stages = _stages(found, escape)
    _check_from_flags(stages)
    return stages


def dump(stages: list[Stage]) -> str:
    """The stages as JSON, for a build to remember its parse (`load` reads it back)."""
    return json.dumps(
        [[*s.fields()[:4], [i.fields() for i in s.instructions], *s.fields()[5:]] for s in stages],
        separators=(",", ":"),
    )


def load(text: str) -> list[Stage]:
    """Stages from `dump`'s JSON, equal to the ones dumped."""
    return [
        Stage(name, base, platform, line, [Instruction(*i) for i in instructions], [(k, v) for k, v in meta], *rest)
        for name, base, platform, line, instructions, meta, *rest in json.loads(text)
    ]


def trigger(text: str) -> Instruction:
    """An ONBUILD trigger from a base image's config (`RUN echo hi`) as the instruction it
    runs, read as a Dockerfile line of its own (no directives: the escape is `\\`)."""
    words = text.strip().split(None, 1)
    keyword = words[0].upper() if words else ""
    if keyword == "ONBUILD":
        raise InvalidInput("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if keyword in ("MAINTAINER", "FROM"):
        raise InvalidInput(f"{keyword} isn't allowed as an ONBUILD trigger")
    try:
        return _instruction(1, keyword, text.strip(), words[1] if len(words) > 1 else "", "\\")
    except _Error as e:
        raise InvalidInput(f"failed to process ONBUILD trigger {_quote(text)}: {e}") from None


def parser_stamp() -> str:
    """What a parse depends on besides the text: this module's code and dockerfile-parse's,
    named by their files' sizes and times (a reinstall or an edit changes them)."""
    import os
    from importlib.util import find_spec

    spec = find_spec("dockerfile_parse")
    package = os.path.dirname(spec.origin) if spec and spec.origin else ""
    parts = []
    for path in (__file__, os.path.join(package, "parser.py"), os.path.join(package, "util.py")):
        try:
            st = os.stat(path)
        except OSError:
            parts.append(f"{path}:-")
            continue
        parts.append(f"{path}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def _fail(line: int, message: str) -> InvalidInput:
    return InvalidInput(f"dockerfile parse error line {line}: {message}")


def _escape(entries: list[dict]) -> str:
    """The escape directive's character: parser directives are the comments on the first lines."""
    escape, seen = "\\", set()
    for number, entry in enumerate(entries):
        match = re.match(_DIRECTIVE, entry["value"])
        if entry["instruction"] != "COMMENT" or entry["startline"] != number or not match:
            break
        key = match[1].lower()
        if key not in ("escape", "syntax"):
            break
        if key in seen:
            raise _fail(number + 1, f"only one {key} parser directive can be used")
        seen.add(key)
        if key == "escape":
            if match[2] not in ("\\", "`"):
                raise _fail(number + 1, f"invalid escape token '{match[2]}' does not match ` or \\")
            escape = match[2]
    return escape


def _from_entry(entry: dict, escape: str) -> Instruction:
    """One of dockerfile-parse's entries as an Instruction, where it and Docker disagree refused."""
    line = entry["startline"] + 1
    lines = entry["content"].splitlines()
    if len(lines) > 1 and not lines[-1].strip():
        raise _fail(entry["endline"] + 1, "empty continuation line (Docker warns these will become errors)")
    for number, text in enumerate(lines[:-1], start=line):
        if text.rstrip().endswith(escape * 2):  # Docker ends the instruction here, dockerfile-parse goes on
            raise _fail(number, f"a line ending in {escape * 2} continues here but not in Docker: rewrite it")
    written = lines[0].split(None, 1)[0].removesuffix(escape)  # "RUN\" continues: the keyword is RUN
    original = f"{written} {entry['value']}".rstrip()
    try:
        return _instruction(line, written.upper(), original, entry["value"], escape)
    except _Error as e:
        raise _fail(line, str(e)) from None


def _instruction(line: int, keyword: str, original: str, rest: str, escape: str) -> Instruction:
    if keyword not in _KEYWORDS:
        raise _Error(f"unknown instruction: {keyword}")
    rest, flag_words = _builder_flags(rest, escape)
    flags = _flags(flag_words, _FLAGS.get(keyword, ()))
    args, is_json = _arguments(keyword, rest, escape)
    _check(keyword, args, is_json, flags, escape)
    if keyword == "ONBUILD":
        trigger = args[0].split(None, 1)
        name = trigger[0].upper()
        if name == "ONBUILD":
            raise _Error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if name in ("MAINTAINER", "FROM"):
            raise _Error(f"{name} isn't allowed as an ONBUILD trigger")
        _instruction(line, name, args[0], trigger[1] if len(trigger) > 1 else "", escape)
    return Instruction(line, keyword, original, args, is_json, flags)


def _builder_flags(rest: str, escape: str) -> tuple[str, list[str]]:
    """The `--name=value` words that open the arguments, and what follows them (moby's
    extractBuilderFlags: quotes and the escape character work inside a flag, `--` ends them)."""
    flags: list[str] = []
    pos = 0
    while True:
        while pos < len(rest) and _isspace(rest[pos]):
            pos += 1
        if not rest.startswith("--", pos):
            return rest[pos:], flags
        word, quote, quoted = [], "", False
        while pos < len(rest) and (quote or not _isspace(rest[pos])):
            ch = rest[pos]
            pos += 1
            if ch == quote:
                quote = ""
                continue
            if not quote and ch in "'\"":
                quote, quoted = ch, True
                continue
            if ch == escape:
                if pos == len(rest):
                    break
                ch = rest[pos]
                pos += 1
            word.append(ch)
        text = "".join(word)
        if text == "--":
            return rest[pos:].strip(), flags
        if text or quoted:
            flags.append(text)


def _flags(words: list[str], allowed: tuple[str, ...]) -> dict[str, str]:
    """Flag words as a dict, checked as moby's BFlags does."""
    flags: dict[str, str] = {}
    for word in words:
        name, has_value, value = word[2:].partition("=")
        if name not in allowed:
            raise _Error(f"Unknown flag: {name}")
        if name in flags:
            raise _Error(f"Duplicate flag specified: {name}")
        if not has_value:
            raise _Error(f"Missing a value on flag: {name}")
        flags[name] = value
    return flags


def _arguments(keyword: str, rest: str, escape: str) -> tuple[list[str], bool]:
    """The arguments as moby's line parsers split them, and whether they were a JSON array."""
    if keyword in ("RUN", "CMD", "ENTRYPOINT", "SHELL", "ADD", "COPY", "VOLUME"):
        exec_form = _json_array(rest)
        if exec_form is not None:
            return exec_form, True
        if keyword in ("ADD", "COPY", "VOLUME"):
            return _fields(rest), False
    elif keyword in ("FROM", "EXPOSE"):
        return _fields(rest), False
    elif keyword in ("ENV", "LABEL"):
        return _name_values(keyword, rest, escape), False
    elif keyword == "ARG":
        return _raw_words(rest, escape), False
    elif keyword == "HEALTHCHECK":
        kind, *command = re.split(_FIELDS, rest, maxsplit=1)
        args, is_json = _arguments("CMD", command[0] if command else "", escape)
        return ([kind, *args] if kind else []), is_json
    return ([rest] if rest else []), False


def _fields(rest: str) -> list[str]:
    return re.split(_FIELDS, rest) if rest else []


def _json_array(rest: str) -> list[str] | None:
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except (ValueError, RecursionError):  # nested past Go's JSON depth limit too
        return None  # shell form that happens to start with [
    if not all(isinstance(item, str) for item in value):
        raise _Error("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _name_values(keyword: str, rest: str, escape: str) -> list[str]:
    """ENV and LABEL: `name=value …`, or the legacy `name value` (the value is the rest)."""
    words = _raw_words(rest, escape)
    if words and "=" not in words[0]:
        parts = re.split(_FIELDS, rest, maxsplit=1)
        if len(parts) < 2:
            raise _Error(f"{keyword} must have two arguments")
        return parts
    out: list[str] = []
    for word in words:
        if "=" not in word:
            raise _Error(f"Syntax error - can't find = in {_quote(word)}. Must be of the form: name=value")
        out += word.split("=", 1)
    return out


def _raw_words(rest: str, escape: str) -> list[str]:
    """moby's parseWords: split at blanks outside quotes, quotes and escapes kept for later."""
    words: list[str] = []
    word: list[str] = []
    quote = ""
    in_word = blank_ok = False
    pos = 0
    while pos < len(rest):
        ch = rest[pos]
        pos += 1
        if not quote and _isspace(ch):
            if in_word and (blank_ok or word):
                words.append("".join(word))
            word, in_word, blank_ok = [], False, False
            continue
        in_word = True
        if quote and ch == quote:
            quote = ""
        elif not quote and ch in "'\"":
            quote, blank_ok = ch, True
        elif ch == escape and quote != "'":
            if pos == len(rest):
                quote = ""
                continue  # an escape at the very end is dropped
            word.append(ch)
            ch = rest[pos]
            pos += 1
        word.append(ch)
    if in_word and (blank_ok or word):
        words.append("".join(word))
    return words


def _check(keyword: str, args: list[str], is_json: bool, flags: dict[str, str], escape: str) -> None:
    """What moby's instructions.Parse and the classic builder's dispatchers refuse."""
    count = len(args)
    if keyword in ("ENV", "LABEL", "ARG", "EXPOSE", "VOLUME", "ONBUILD", "HEALTHCHECK") and not count:
        raise _Error(f"{keyword} requires at least one argument")
    if keyword in ("MAINTAINER", "WORKDIR", "USER", "STOPSIGNAL") and count != 1:
        raise _Error(f"{keyword} requires exactly one argument")
    if keyword in ("ADD", "COPY") and count < 2:
        raise _Error(
            f"{keyword} requires at least two arguments, but only one was provided. Destination could not be determined"
        )
    if keyword in ("ADD", "COPY") and "chmod" in flags:
        raise _Error("the --chmod option requires BuildKit")
    if keyword == "FROM" and not (count == 1 or count == 3 and args[1].lower() == "as"):
        raise _Error("FROM requires either one or three arguments")
    if keyword == "FROM" and count == 3 and not re.fullmatch(_STAGE_NAME, args[2].lower()):
        raise _Error(
            f"invalid name for build stage: {_quote(args[2])}, name can't start with a number or contain symbols"
        )
    if keyword in ("ENV", "LABEL") and any(not name for name in args[::2]):
        raise _Error(f"{keyword} names can not be blank")
    if keyword == "ARG" and any(word.startswith("=") for word in args):
        raise _Error("ARG names can not be blank")
    if keyword == "VOLUME" and any(not volume.strip() for volume in args):
        raise _Error("VOLUME specified can not be an empty string")
    if keyword == "SHELL" and (not is_json or not count):
        raise _Error(
            "SHELL requires the arguments to be in JSON form" if count else "SHELL requires at least one argument"
        )
    if keyword == "HEALTHCHECK":
        _check_healthcheck(args, flags)
    if keyword in _EXPANDED:
        try:
            for word in [*args, *flags.values()]:
                substitute(word, _ANY, escape)  # the syntax only: every variable is set here
        except InvalidInput as e:
            raise _Error(str(e)) from None


def _check_healthcheck(args: list[str], flags: dict[str, str]) -> None:
    """moby's parseHealthConfig: the type, then the options in order (NONE reads none)."""
    kind = args[0].upper()
    if kind == "NONE" and len(args) > 1:
        raise _Error("HEALTHCHECK NONE takes no arguments")
    if kind == "CMD" and len(args) == 1:
        raise _Error("Missing command after HEALTHCHECK CMD")
    if kind not in ("NONE", "CMD"):
        raise _Error(f"Unknown type {_quote(kind)} in HEALTHCHECK (try CMD)")
    if kind == "CMD":
        try:
            healthcheck_options(flags)
        except ValueError as e:
            raise _Error(str(e)) from None


def healthcheck_options(flags: dict[str, str]) -> tuple[int, int, int, int, int]:
    """HEALTHCHECK's --interval, --timeout, --start-period and --start-interval (nanoseconds, 0
    when not given) and --retries, as moby reads them: Go durations of at least 1ms, retries an
    int32 of at least 1. ValueError with Docker's message otherwise."""
    from . import golang

    durations = []
    for name in ("interval", "timeout", "start-period", "start-interval"):
        text = flags.get(name, "")
        ns = golang.parse_duration(text) if text else 0
        if text and ns < 1_000_000:  # container.MinimumDuration
            raise ValueError(f"Interval {_quote(name)} cannot be less than 1ms")
        durations.append(ns)
    retries = 0
    if flags.get("retries"):
        retries = golang.parse_int32(flags["retries"])
        if retries < 1:
            raise ValueError(f"--retries must be at least 1 (not {retries})")
    interval, timeout, start_period, start_interval = durations
    return interval, timeout, start_period, start_interval, retries


def _stages(found: list[Instruction], escape: str) -> list[Stage]:
    meta_args: list[tuple[str, str | None]] = []
    stages: list[Stage] = []
    for instruction in found:
        if instruction.keyword == "FROM":
            args = instruction.args
            name = args[2].lower() if len(args) == 3 else None
            if name and any(stage.name == name for stage in stages):
                raise _fail(instruction.line, f"{name} stage name already used")
            platform = instruction.flags.get("platform")
            line, original = instruction.line, instruction.original
            stages.append(Stage(name, args[0], platform, line, [], meta_args, original, escape))
        elif stages:
            stages[-1].instructions.append(instruction)
        elif instruction.keyword == "ARG":
            meta_args += arg_pairs(instruction)
        else:
            raise _fail(instruction.line, "no build stage in current context")
    if not stages:
        raise _fail(found[-1].line, "no build stage in current context")
    return stages


def _check_from_flags(stages: list[Stage]) -> None:
    """COPY --from names an earlier stage (by name or index) or an image; the classic builder
    builds stages in order, so the stage itself or a later one cannot be meant."""
    names = [stage.name for stage in stages]
    for index, stage in enumerate(stages):
        for instruction in stage.instructions:
            value = instruction.flags.get("from")
            if value is None:
                continue
            problem = None
            if re.fullmatch(_INDEX, value):
                number = int(value)
                problem = "refers to current build stage" if number == index else None
                problem = problem or ("index out of bounds" if not 0 <= number < index else None)
            elif value.lower() in names[index:]:
                later = names.index(value.lower(), index) > index
                problem = "the stage is defined after this one" if later else "refers to current build stage"
            if problem:
                raise _fail(instruction.line, f"invalid from flag value {value}: {problem}")


def pairs(instruction: Instruction) -> list[tuple[str, str]]:
    """The names and values an ENV or LABEL sets, unsubstituted: pass each through `substitute`."""
    if instruction.keyword not in ("ENV", "LABEL"):
        raise ValueError(f"{instruction.keyword} is not ENV or LABEL")
    return list(zip(instruction.args[::2], instruction.args[1::2]))


def arg_pairs(instruction: Instruction) -> list[tuple[str, str | None]]:
    """The names an ARG declares and their defaults, unsubstituted; None where it has none (the
    name then has a value only if the build gives one)."""
    if instruction.keyword != "ARG":
        raise ValueError(f"{instruction.keyword} is not ARG")
    split = [word.partition("=") for word in instruction.args]
    return [(name, value if equals else None) for name, equals, value in split]


# -- Docker's shell words (moby/buildkit frontend/dockerfile/shell, Lex) --------------------------


def substitute(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """`word` with its variables replaced and its quotes and escapes removed (ProcessWord);
    blanks are kept. An undefined variable is empty."""
    return _Lexer(word, env, escape).run()[0]


def words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """`text` substituted, then split at blanks outside quotes (ProcessWords): a variable's value
    is split too, a quoted one is not."""
    return _Lexer(text, env, escape).run()[1]


class _AnySet(Mapping[str, str]):
    """Every variable set and non-empty: parsing checks the syntax of words, not their values."""

    def __getitem__(self, key: str) -> str:
        return "x"

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


_ANY = _AnySet()


class _Words:
    """The words of ProcessWords: blanks split them, except blanks that were quoted or escaped."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.word = ""
        self.in_word = False

    def add(self, text: str) -> None:
        for ch in text:
            if not _isspace(ch):
                self.add_raw(ch)
            elif self.in_word and self.word:
                self.words.append(self.word)
                self.word, self.in_word = "", False

    def add_raw(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def done(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
        return self.words


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str) -> None:
        self.text, self.env, self.escape, self.pos = text, env, escape, 0

    def run(self) -> tuple[str, list[str]]:
        try:
            return self._until("")
        except _Error as e:
            raise InvalidInput(f"failed to process {_quote(self.text)}: {e}") from None

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _next(self) -> str:
        ch = self._peek()
        self.pos += len(ch)
        return ch

    def _until(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        found = _Words()
        while ch := self._peek():
            if ch == stop:
                self.pos += 1
                return "".join(result), found.done()
            if ch in "'\"$":
                part = self._single() if ch == "'" else self._double() if ch == '"' else self._dollar()
                result.append(part)
                if ch == "$":
                    found.add(part)  # a variable's value splits into words, a quoted string does not
                else:
                    found.add_raw(part)
                continue
            self.pos += 1
            if ch == self.escape:
                ch = self._next()
                if not ch:
                    break
                found.add_raw(ch)
            else:
                found.add(ch)
            result.append(ch)
        if stop:
            raise _Error(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), found.done()

    def _single(self) -> str:
        self.pos += 1
        end = self.text.find("'", self.pos)
        if end < 0:
            raise _Error("unexpected end of statement while looking for matching single-quote")
        value, self.pos = self.text[self.pos : end], end + 1
        return value

    def _double(self) -> str:
        self.pos += 1
        out: list[str] = []
        while True:
            ch = self._peek()
            if not ch:
                raise _Error("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
                continue
            self.pos += 1
            if ch == self.escape and self._peek() in ('"', "$", self.escape):
                ch = self._next()  # only these are escaped inside double quotes, and not at the end
            elif ch == self.escape and not self._peek():
                continue
            out.append(ch)

    def _dollar(self) -> str:
        self.pos += 1
        if self._peek() != "{":
            name = self._name()
            return self.env.get(name, "") if name else "$"
        self.pos += 1
        if not self._peek():
            raise _Error("syntax error: missing '}'")
        if self._peek() in "{}:":
            raise _Error("syntax error: bad substitution")
        name = self._name()
        ch = self._next()
        if ch == "}":
            return self.env.get(name, "")
        if not ch:
            raise _Error("syntax error: missing '}'")
        colon = ch == ":"
        modifier = self._next() if colon else ch
        if not modifier or modifier not in "-+?":
            raise _Error(f"unsupported modifier ({':' if colon else ''}{modifier}) in substitution")
        try:
            word, _ = self._until("}")
        except _Error:
            if not self._peek():
                raise _Error("syntax error: missing '}'") from None
            raise
        value = self.env.get(name)
        if value is None or (colon and not value):  # unset, or with `:` empty
            if modifier == "?":
                why = "is not allowed to be unset" if value is None else "is not allowed to be empty"
                raise _Error(f"{name}: {word or why}")
            return word if modifier == "-" else ""
        return word if modifier == "+" else value

    def _name(self) -> str:
        """A variable's name: letters, digits and _; or all the digits of a positional
        parameter; or one special parameter ($@, $#, …)."""
        start, ch = self.pos, self._peek()
        if ch.isdecimal():
            while self._peek().isdecimal():
                self.pos += 1
        elif ch and ch in "@*#?-$!":
            self.pos += 1
        else:
            while (ch := self._peek()) and (ch.isalpha() or ch.isdecimal() or ch == "_"):
                self.pos += 1
        return self.text[start : self.pos]


def _isspace(ch: str) -> bool:
    """Go's unicode.IsSpace (Python also counts the separators U+001C–U+001F)."""
    return ch.isspace() and ch not in "\x1c\x1d\x1e\x1f"


def _quote(text: str) -> str:
    """Go's %q, near enough for messages."""
    return json.dumps(text, ensure_ascii=False)
