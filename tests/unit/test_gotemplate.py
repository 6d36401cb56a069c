"""store/gotemplate.py: the Go-template subset Docker users pass to `--format`, held to what
Go's text/template and Docker's formatter print (expected strings are Docker 20.10's output)."""

from __future__ import annotations

import pytest

from bilge.store.gotemplate import Record, Template, TemplateError, header_for, tabwriter

ROWS = [
    Record(
        ID="0163de458d56", Repository="scratchpad", Tag="latest", Size="2.39MB", Labels={"a": "b"}, Names=["x", "y"]
    ),
    Record(ID="ead86c941b00", Repository="<none>", Tag="<none>", Size="50kB", Labels={}, Names=[]),
]
HEADERS = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Size": "SIZE"}


def render(fmt: str) -> str:
    return Template(fmt).render(ROWS, HEADERS)


@pytest.mark.parametrize(
    ("fmt", "want"),
    [
        ("{{.Repository}}:{{.Tag}}", "scratchpad:latest\n<none>:<none>\n"),
        ("{{upper .Repository}} {{.Tag | upper}}", "SCRATCHPAD LATEST\n<NONE> <NONE>\n"),
        ("{{lower (upper .Tag)}}|{{title .Repository}}", "latest|Scratchpad\n<none>|<None>\n"),
        ('{{join .Names ","}}', "x,y\n\n"),
        ("{{println .ID}}", "0163de458d56\n\nead86c941b00\n\n"),
        ("{{.ID}}\\t{{.Size}}", "0163de458d56\t2.39MB\nead86c941b00\t50kB\n"),
        ("{{json .Repository}}", '"scratchpad"\n"<none>"\n'),
        ("{{json .Labels}}", '{"a":"b"}\n{}\n'),
        ("{{.Labels.a}}", "b\n<no value>\n"),
        ("{{if .Names}}named{{else}}anonymous{{end}}", "named\nanonymous\n"),
        ("{{range .Names}}<{{.}}>{{end}}", "<x><y>\n\n"),
        ('{{printf "%s=%d" .Tag 3}}', "latest=3\n<none>=3\n"),
        ('{{len .Names}} {{index .Labels "a"}}', "2 b\n0 <no value>\n"),
        ("{{truncate .ID 4}}", "0163\nead8\n"),
        ("  {{- .Tag -}}  !", "latest!\n<none>!\n"),
    ],
)
def test_fields_functions_and_actions(fmt: str, want: str) -> None:
    assert render(fmt) == want


def test_json_of_a_record_is_a_context_marshalled_by_go() -> None:
    """Sorted keys, no spaces, and json.Marshal's HTML escapes (`<` as \\u003c), as in the
    fixtures' `docker images --format '{{json .}}'` lines."""
    assert render("{{json .}}").splitlines()[1] == (
        '{"ID":"ead86c941b00","Labels":{},"Names":[],"Repository":"\\u003cnone\\u003e","Size":"50kB","Tag":"\\u003cnone\\u003e"}'
    )


def test_table_has_docker_headers_and_tabwriter_layout() -> None:
    assert render("table {{.ID}}\\t{{.Repository}}\\t{{.Size}}") == (
        "IMAGE ID       REPOSITORY   SIZE\n0163de458d56   scratchpad   2.39MB\nead86c941b00   <none>       50kB\n"
    )
    # the header row runs every function as the identity, as Docker's HeaderFunctions do
    assert render("table {{upper .Tag}}").splitlines()[0] == "TAG"
    assert Template("table {{.ID}}").render([], HEADERS) == "IMAGE ID\n"


def test_tabwriter_matches_go() -> None:
    """minwidth 10, padding 3; the last cell of a line is no column; a line without the column
    ends its block (values from Go's text/tabwriter with Docker's settings)."""
    assert tabwriter("a\tb\nlonger-than-ten\tc\n") == "a" + " " * 17 + "b\nlonger-than-ten   c\n"
    assert tabwriter("a\tb\nplain\nccc\td\n") == "a         b\nplain\nccc       d\n"


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("{{.Nope}}", 'template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope'),
        ("{{nope .ID}}", 'template: :1: function "nope" not defined'),
        ("{{.ID", "template: :1: unclosed action"),
        ("{{if .ID}}x", "template: :1: unexpected EOF"),
        ("{{end}}", "template: :1: unexpected {{end}}"),
        ("{{.ID .Tag}}", 'template: :1:2: executing "" at <.ID>: can\'t give argument to non-function'),
    ],
)
def test_errors_read_as_dockers(fmt: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(fmt)
    assert str(caught.value) == "template parsing error: " + message


def test_headers_for_fields_docker_does_not_list() -> None:
    assert [header_for(f) for f in ("UniqueSize", "ID", "planned_bytes", "ChainID")] == [
        "UNIQUE SIZE",
        "ID",
        "PLANNED BYTES",
        "CHAIN ID",
    ]
