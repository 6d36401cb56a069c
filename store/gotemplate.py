"""The subset of Go's text/template that Docker users put in `--format`, with Docker's functions
and its `table` layout.

The Go-template packages on PyPI bind Go through CGo and are unmaintained, so this is a small
translator of our own: a tokenizer, a parser to a tree, and an evaluator. It covers what
scripts use with `docker images`/`ps`/`history`/`inspect`: fields (`.Repository`, `.Config.Env`),
`.`, string and number literals, pipes, parenthesised pipelines, `if`/`else`/`range`/`with`/`end`,
Docker's functions (json, join, split, upper, lower, title, truncate, pad) and Go's (print,
printf, println, len, index, eq, ne, not, and, or). Errors read as Docker's do:
"template parsing error: template: :1: …". Only imported when a command is given a template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidInput

TABLE = "table"


class TemplateError(InvalidInput):
    """A template Docker would refuse, parsing or executing it."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"template parsing error: template: :{detail}")


class Record(dict[str, Any]):
    """One row's fields, as Docker's formatter context: a struct, so naming a field it lacks is
    an error (a plain mapping, such as Labels, answers "<no value>" instead), and `json`
    marshals it with sorted keys and HTML escaped, as Go's json.Marshal of a context does."""


# --- tokens ---------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
    | (?P<dot>\.)
    | (?P<string>"(?:[^"\\\n]|\\.)*")
    | (?P<raw>`[^`]*`)
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<punct>[|()])
    )""",
    re.VERBOSE,
)


@dataclass
class _Token:
    kind: str
    text: str
    pos: int


def _tokens(action: str, base: int, line: int) -> list[_Token]:
    out, i = [], 0
    while i < len(action):
        if action[i:].strip() == "":
            break
        m = _TOKEN.match(action, i)
        if not m or m.end() == i:
            bad = action[i:].lstrip()[:1]
            raise TemplateError(f'{line}: unexpected "{bad}" in command')
        kind = m.lastgroup or ""
        out.append(_Token(kind, m.group(kind), base + m.start(kind)))
        i = m.end()
    return out


# --- tree -----------------------------------------------------------------------------------


@dataclass
class _Operand:
    kind: str  # field, dot, literal, pipe, ident
    value: Any
    pos: int


@dataclass
class _Command:
    args: list[_Operand]


@dataclass
class _Pipe:
    commands: list[_Command]
    pos: int


@dataclass
class _Block:
    keyword: str  # if, range, with
    pipe: _Pipe
    body: list[Any] = field(default_factory=list)
    otherwise: list[Any] = field(default_factory=list)


_KEYWORDS = ("if", "range", "with", "else", "end")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text

    def parse(self) -> list[Any]:
        root: list[Any] = []
        stack: list[tuple[_Block, list[Any]]] = []
        body = root
        pos = 0
        while True:
            start = self.text.find("{{", pos)
            if start < 0:
                body.append(self.text[pos:])
                break
            end = self.text.find("}}", start + 2)
            if end < 0:
                raise TemplateError(f"{self._line(start)}: unclosed action")
            inner_start, inner_end = start + 2, end
            literal = self.text[pos:start]
            if self.text.startswith("{{- ", start):
                literal, inner_start = literal.rstrip(), inner_start + 2
            after = end + 2
            if self.text[start:end].endswith(" -"):
                inner_end -= 2
                after = len(self.text) - len(self.text[after:].lstrip())
            body.append(literal)
            pos = after
            line = self._line(start)
            tokens = _tokens(self.text[inner_start:inner_end], inner_start, line)
            if not tokens:
                raise TemplateError(f"{line}: missing value for command")
            word = tokens[0].text if tokens[0].kind == "ident" else ""
            if word in ("if", "range", "with"):
                block = _Block(word, self._pipe(tokens[1:], tokens[0].pos, line))
                body.append(block)
                stack.append((block, body))
                body = block.body
            elif word == "else":
                if not stack or len(tokens) > 1:
                    raise TemplateError(f"{line}: unexpected {{{{else}}}}")
                body = stack[-1][0].otherwise
            elif word == "end":
                if not stack:
                    raise TemplateError(f"{line}: unexpected {{{{end}}}}")
                body = stack.pop()[1]
            else:
                body.append(self._pipe(tokens, tokens[0].pos, line))
        if stack:
            raise TemplateError(f"{self._line(len(self.text))}: unexpected EOF")
        return root

    def _line(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1

    def _pipe(self, tokens: list[_Token], pos: int, line: int) -> _Pipe:
        pipe, rest = self._pipeline(tokens, pos, line)
        if rest:
            raise TemplateError(f'{line}: unexpected "{rest[0].text}" in command')
        return pipe

    def _pipeline(self, tokens: list[_Token], pos: int, line: int) -> tuple[_Pipe, list[_Token]]:
        commands: list[_Command] = []
        args: list[_Operand] = []
        while tokens:
            tok = tokens[0]
            if tok.text == ")":
                break
            tokens = tokens[1:]
            if tok.text == "|":
                if not args:
                    raise TemplateError(f"{line}: missing value for command")
                commands.append(_Command(args))
                args = []
            elif tok.text == "(":
                inner, tokens = self._pipeline(tokens, tok.pos, line)
                if not tokens or tokens[0].text != ")":
                    raise TemplateError(f"{line}: unclosed left paren")
                tokens = tokens[1:]
                args.append(_Operand("pipe", inner, tok.pos))
            else:
                args.append(self._operand(tok, line))
        if not args:
            raise TemplateError(f"{line}: missing value for command")
        commands.append(_Command(args))
        return _Pipe(commands, pos), tokens

    def _operand(self, tok: _Token, line: int) -> _Operand:
        if tok.kind == "field":
            return _Operand("field", tok.text[1:].split("."), tok.pos)
        if tok.kind == "dot":
            return _Operand("dot", None, tok.pos)
        if tok.kind == "string":
            return _Operand("literal", json.loads(tok.text), tok.pos)
        if tok.kind == "raw":
            return _Operand("literal", tok.text[1:-1], tok.pos)
        if tok.kind == "number":
            return _Operand("literal", float(tok.text) if "." in tok.text else int(tok.text), tok.pos)
        if tok.text in ("true", "false"):
            return _Operand("literal", tok.text == "true", tok.pos)
        if tok.text in _KEYWORDS or tok.text not in FUNCTIONS:
            raise TemplateError(f'{line}: function "{tok.text}" not defined')
        return _Operand("ident", tok.text, tok.pos)


# --- values as Go prints them ---------------------------------------------------------------


class _Missing:
    """A map's absent key: Go prints "<no value>"."""

    def __str__(self) -> str:
        return "<no value>"


NO_VALUE = _Missing()


def go_string(value: Any) -> str:
    """fmt's %v."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e21 else f"{value:e}"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{go_string(k)}:{go_string(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_string(v) for v in value) + "]"
    return str(value)


def _truthy(value: Any) -> bool:
    return not (
        value is None or value is NO_VALUE or value in (False, 0, "") or (hasattr(value, "__len__") and len(value) == 0)
    )


def _json(value: Any) -> str:
    """Docker's `json`: an Encoder without HTML escaping; a context marshals itself with sorted
    keys and json.Marshal's escaping, which the encoder then leaves as it is."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=isinstance(value, Record))
    if isinstance(value, Record):
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _print(*args: Any) -> str:
    """fmt.Sprint: a space between operands when neither is a string."""
    out = ""
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out += " "
        out += go_string(arg)
    return out


_VERB = re.compile(r"%([-+# 0]*\d*(?:\.\d+)?)([vsdqfgtx%])")


def _printf(fmt: str, *args: Any) -> str:
    """fmt.Sprintf for the verbs templates use: %v %s %d %q %f %g %t %x %%."""
    values = iter(args)

    def one(m: re.Match[str]) -> str:
        flags, verb = m.groups()
        if verb == "%":
            return "%"
        value = next(values, None)
        if verb in "vst":
            return ("%" + flags + "s") % go_string(value)
        if verb == "q":
            return ("%" + flags + "s") % json.dumps(go_string(value), ensure_ascii=False)
        return ("%" + flags + verb) % value

    return _VERB.sub(one, fmt)


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        item = item.get(key, NO_VALUE) if isinstance(item, Mapping) else item[key]
    return item


def _truncate(text: str, length: int) -> str:
    return text[:length]


def _pad(text: str, before: int, after: int) -> str:
    return " " * before + text + " " * after


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "json": _json,
    "split": lambda text, sep: text.split(sep),
    "join": lambda items, sep: sep.join(go_string(i) for i in items),
    "title": lambda text: re.sub(r"\b\w", lambda m: m.group().upper(), text),
    "lower": lambda text: text.lower(),
    "upper": lambda text: text.upper(),
    "truncate": _truncate,
    "pad": _pad,
    "print": _print,
    "printf": _printf,
    "println": lambda *args: " ".join(go_string(a) for a in args) + "\n",
    "len": len,
    "index": _index,
    "eq": lambda a, *bs: any(a == b for b in bs),
    "ne": lambda a, b: a != b,
    "not": lambda a: not _truthy(a),
    "and": lambda *args: next((a for a in args if not _truthy(a)), args[-1]),
    "or": lambda *args: next((a for a in args if _truthy(a)), args[-1]),
}

# What Docker's header row runs each function as: the header text itself, whatever the function.
_HEADER_FUNCTIONS = {
    name: (lambda text, *rest: text) for name in ("json", "split", "join", "title", "lower", "upper", "truncate", "pad")
}


# --- evaluation -----------------------------------------------------------------------------


class Template:
    """A parsed `--format` value: `table` or not, and its tree."""

    def __init__(self, fmt: str) -> None:
        self.table = fmt.startswith(TABLE)
        text = fmt[len(TABLE) :] if self.table else fmt
        self.text = text.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
        self.tree = _Parser(self.text).parse()

    def execute(self, data: Any, functions: Mapping[str, Callable[..., Any]] = FUNCTIONS) -> str:
        out: list[str] = []
        self._run(self.tree, data, out, dict(functions))
        return "".join(out)

    def render(self, records: Sequence[Record], headers: Mapping[str, str]) -> str:
        """Each record's line, as Docker writes them; under `table` a header row of Docker's
        names first and the whole aligned by Go's tabwriter, as Docker's formatter does."""
        lines = "".join(self.execute(r) + "\n" for r in records)
        if not self.table:
            return lines
        header = self.execute(_HeaderRecord(headers), {**FUNCTIONS, **_HEADER_FUNCTIONS})
        return tabwriter(header + "\n" + lines)

    def _run(self, nodes: list[Any], dot: Any, out: list[str], functions: dict[str, Callable[..., Any]]) -> None:
        for node in nodes:
            if isinstance(node, str):
                out.append(node)
            elif isinstance(node, _Pipe):
                value = self._pipe(node, dot, functions)
                out.append(go_string(value))
            else:
                self._block(node, dot, out, functions)

    def _block(self, node: _Block, dot: Any, out: list[str], functions: dict[str, Callable[..., Any]]) -> None:
        value = self._pipe(node.pipe, dot, functions)
        if node.keyword == "range" and _truthy(value):
            items = [value[k] for k in sorted(value)] if isinstance(value, Mapping) else value
            for item in items:
                self._run(node.body, item, out, functions)
        elif node.keyword != "range" and _truthy(value):
            self._run(node.body, value if node.keyword == "with" else dot, out, functions)
        else:
            self._run(node.otherwise, dot, out, functions)

    def _pipe(self, pipe: _Pipe, dot: Any, functions: dict[str, Callable[..., Any]]) -> Any:
        value: Any = None
        for i, command in enumerate(pipe.commands):
            value = self._command(command, dot, functions, [value] if i else [])
        return value

    def _command(self, command: _Command, dot: Any, functions: dict[str, Callable[..., Any]], piped: list[Any]) -> Any:
        first, *rest = command.args
        if first.kind != "ident":
            if rest or piped:
                raise self._error(first, "can't give argument to non-function")
            return self._operand(first, dot, functions)
        args = [self._operand(a, dot, functions) for a in rest] + piped
        try:
            return functions[first.value](*args)
        except TemplateError:
            raise
        except Exception as exc:
            raise self._error(first, f"error calling {first.value}: {_reason(exc)}") from None

    def _operand(self, operand: _Operand, dot: Any, functions: dict[str, Callable[..., Any]]) -> Any:
        if operand.kind == "literal":
            return operand.value
        if operand.kind == "dot":
            return dot
        if operand.kind == "pipe":
            return self._pipe(operand.value, dot, functions)
        if operand.kind == "ident":
            return functions[operand.value]()
        value = dot
        for name in operand.value:
            if isinstance(value, Record):
                if name not in value:
                    raise self._error(operand, f"can't evaluate field {name}")
                value = value[name]
            elif isinstance(value, Mapping):
                value = value.get(name, NO_VALUE)
            elif value is None or value is NO_VALUE:
                raise self._error(operand, "nil pointer evaluating ." + name)
            else:
                raise self._error(operand, f"can't evaluate field {name} in type {type(value).__name__}")
        return value

    def _error(self, operand: _Operand, message: str) -> TemplateError:
        line = self.text.count("\n", 0, operand.pos) + 1
        column = operand.pos - (self.text.rfind("\n", 0, operand.pos) + 1)
        shown = "." + ".".join(operand.value) if operand.kind == "field" else go_string(operand.value)
        return TemplateError(f'{line}:{column}: executing "" at <{shown}>: {message}')


class _HeaderRecord(Record):
    """The header row's data: each field's column name (Docker's SubHeaderContext); a field
    with none has an empty header, as in Docker."""

    def __missing__(self, key: str) -> str:
        return ""

    def __contains__(self, key: object) -> bool:
        return True


def _reason(exc: Exception) -> str:
    if isinstance(exc, TypeError):
        return "wrong number or type of args"
    return str(exc) or type(exc).__name__


def header_for(field_name: str) -> str:
    """A column header in Docker's style for a field Docker does not list: `UniqueSize` and
    `planned_bytes` as UNIQUE SIZE and PLANNED BYTES."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", field_name).replace("_", " ").upper()


def tabwriter(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Go's text/tabwriter as Docker's tables use it (minwidth 10, tabwidth 1, padding 3, space
    padded, no flags): cells end at a tab, a column is as wide as its widest cell plus the
    padding across each block of consecutive lines that have that column, the last cell of a
    line is not a column."""
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []

    def write(first: int, last: int, widths: list[int]) -> None:
        for cells in lines[first:last]:
            row = "".join(
                cell + " " * (widths[j] - len(cell)) if j < len(widths) else cell for j, cell in enumerate(cells)
            )
            out.append(row)

    def format_block(first: int, last: int, widths: list[int]) -> None:
        column = len(widths)
        start = first
        this = first
        while this < last:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write(start, this, widths)
            start = this
            width = minwidth
            while this < last and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            format_block(start, this, [*widths, width])
            start = this
        write(start, last, widths)

    format_block(0, len(lines), [])
    return "\n".join(out)
