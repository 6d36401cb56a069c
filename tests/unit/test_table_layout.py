"""The table fast path lays text out exactly as tabulate's "plain" format does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from tabulate import tabulate

from bilge.store.tables import plain, render

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
