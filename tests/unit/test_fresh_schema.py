"""A new store is made from store/fresh_schema.py, not by running every migration (that needs
sqlite-utils, 0.2 s to import): the written-down schema must be what the migrations make."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bilge.store import db, fresh_schema

REGENERATE = (
    "python -c 'from tests.unit.test_fresh_schema import module; print(module(), end=\"\")' > store/fresh_schema.py"
)


def _migrated(path: Path) -> db.Database:
    database = db.Database(sqlite3.connect(path, isolation_level=None))
    with db.write(database):
        db._migrate_forward(database)
    return database


def _statements(database: db.Database) -> list[str]:
    """What makes `database` again on an empty one: its tables, indexes and triggers in the order
    they depend on each other, then the rows the migrations put in (the version aside)."""
    made = database.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
        " ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, rowid"
    )
    statements = [sql for (sql,) in made]
    for (table,) in database.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'schema_version'"
    ):
        for row in database.execute(f'SELECT * FROM "{table}"'):
            statements.append(f'INSERT INTO "{table}" VALUES ({", ".join(map(repr, row))})')
    return statements


def _contents(database: db.Database) -> dict[str, list[tuple]]:
    tables = database.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'schema_version'")
    return {table: database.execute(f'SELECT * FROM "{table}"').fetchall() for (table,) in tables}


def module() -> str:
    """store/fresh_schema.py as it should be: what the migrations make, statement by statement."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        statements = _statements(_migrated(Path(scratch) / "bilge.db"))
    assert not any('"""' in statement or "\\" in statement for statement in statements)
    lines = "".join(f'    """{statement}""",\n' for statement in statements)
    return f'"""{fresh_schema.__doc__}"""\n\nVERSION = {len(db.MIGRATIONS)}\nSTATEMENTS = (\n{lines})\n'


def _master(database: db.Database) -> list[tuple[str, ...]]:
    return database.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").fetchall()


def test_the_written_down_schema_is_what_the_migrations_make(tmp_path: Path) -> None:
    migrated = _migrated(tmp_path / "migrated.db")
    fresh = db.connect(tmp_path / "fresh.db")
    assert fresh_schema.VERSION == len(db.MIGRATIONS), f"a migration was added: {REGENERATE}"
    assert _master(fresh) == _master(migrated), f"store/fresh_schema.py is behind the migrations: {REGENERATE}"
    assert _contents(fresh) == _contents(migrated), f"store/fresh_schema.py is behind the migrations: {REGENERATE}"
    assert db._version(fresh) == len(db.MIGRATIONS)


def test_a_new_store_does_not_import_sqlite_utils(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "new.db"
    code = f"import sys, pathlib; from bilge.store import db; db.connect(pathlib.Path({str(path)!r})); print('sqlite_utils' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_an_old_store_is_still_migrated_forward(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = db.Database(sqlite3.connect(path, isolation_level=None))
    with db.write(old):
        old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        import sqlite_utils

        for migration in db.MIGRATIONS[:3]:
            migration(sqlite_utils.Database(old.conn))
        old.execute("INSERT INTO schema_version (version) VALUES (3)")
    upgraded = db.connect(path)
    migrated = _migrated(tmp_path / "migrated.db")
    assert (_master(upgraded), _contents(upgraded)) == (_master(migrated), _contents(migrated))
