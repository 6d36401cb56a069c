"""The table fast paths: text laid out exactly as tabulate's "plain" format does it, and a
column of times worded exactly as `ago` words each."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tabulate import tabulate

from bilge.store import tables
from bilge.store.tables import ago, ago_column, plain, render

# Spaces at the ends (tabulate strips them), the ellipsis bilge truncates with, digits that
# tabulate could take for numbers, and the empty cell.
text = st.text(alphabet=" ab…D0.1-:<>", max_size=10)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(
    st.integers(1, 5).flatmap(
        lambda n: st.tuples(
            st.lists(text, min_size=n, max_size=n), st.lists(st.lists(text, min_size=n, max_size=n), max_size=6)
        )
    )
)
def test_plain_equals_tabulate(case: tuple[list[str], list[list[str]]]) -> None:
    headers, table = case
    columns = [[line[i] for line in table] for i in range(len(headers))]
    assert plain(columns, headers) == tabulate(table, headers, tablefmt="plain", disable_numparse=True)


def test_render_table_values() -> None:
    """Numbers and missing values become text as tabulate would print them."""
    rows = [{"n": 7, "name": " web ", "size": None}, {"n": 12, "name": "db"}]
    columns = [("n", "N"), ("name", "NAME"), ("size", "SIZE")]
    assert render(rows, columns, "table").splitlines() == ["N    NAME    SIZE", "7    web", "12   db"]


def test_render_multiline_cells_fall_back_to_tabulate() -> None:
    rows = [{"a": "one\ntwo"}]
    assert render(rows, [("a", "A")], "table") == tabulate([["one\ntwo"]], ["A"], tablefmt="plain")


NOW = 1_800_000_000.0
# go-units' thresholds in seconds of age (a second, a minute, two, an hour, an hour and a
# half, 48 hours, two weeks, two months, two years), each with a neighbour on either side
EDGES = [1, 2, 60, 120, 3600, 5400, 172800, 1209600, 5184000, 63072000, 63070200]
age = st.one_of(
    st.floats(-100, 20 * 365 * 86400),
    st.sampled_from(EDGES).flatmap(lambda edge: st.floats(edge - 1e-3, edge + 1e-3)),
    st.sampled_from([float(e) for e in EDGES]),
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.lists(st.one_of(st.none(), age.map(lambda a: NOW - a)), max_size=300))
def test_ago_column_words_each_time_as_ago_does(timestamps: list[float | None]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tables.time, "time", lambda: NOW)
        assert ago_column(timestamps) == [ago(t, NOW) for t in timestamps]
