"""Bulk inserts: on PostgreSQL one INSERT ... SELECT FROM unnest(arrays) per batch, arrays sent in the
driver's binary format (a short statement instead of a multi-row VALUES list the driver re-parses and
quotes value by value); elsewhere Core executemany."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import JSON

from server.storage.types import UtcDateTime

_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # what json.dumps would build for each value


def bulk_insert(
    connection: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    conflict_column: str | None = None,
    returning: str | None = None,
) -> list[Any]:
    """Insert rows (skipping conflicts on `conflict_column`); returns the `returning` column of inserted rows."""
    if not rows:
        return []
    if connection.dialect.name != "postgresql":
        return _executemany(connection, table, rows, conflict_column, returning)
    columns = [column for column in table.columns if column.name in rows[0]]
    dialect = postgresql.dialect()
    arrays = []
    params = {}
    for index, column in enumerate(columns):
        sql_type = column.type.compile(dialect=dialect)
        name = f"a{index}"
        arrays.append(f"CAST(%({name})b AS {sql_type}[])")
        params[name] = _pg_array(column, [row[column.name] for row in rows])
    statement = (
        f"INSERT INTO {table.name} ({', '.join(c.name for c in columns)}) SELECT * FROM unnest({', '.join(arrays)})"
    )
    if conflict_column:
        statement += f" ON CONFLICT ({conflict_column}) DO NOTHING"
    if returning:
        statement += f" RETURNING {returning}"
    # %(name)b asks the driver for its binary array format; exec_driver_sql keeps SQLAlchemy's error handling.
    result = connection.exec_driver_sql(statement, params)
    return list(result.scalars()) if returning else []


def _pg_array(column: Any, values: list[Any]) -> list[Any]:
    """A column's values ready for an array parameter: JSON serialised, timestamps checked to be aware."""
    if isinstance(column.type, JSON):
        return [None if value is None else _JSON.encode(value) for value in values]
    if isinstance(column.type, UtcDateTime) and any(value is not None and value.tzinfo is None for value in values):
        raise ValueError(f"naive datetime refused for {column.name}: timestamps must be timezone-aware")
    return values


def _executemany(
    connection: Connection, table: Table, rows: Sequence[dict[str, Any]], conflict: str | None, returning: str | None
) -> list[Any]:
    """Core executemany (SQLite): ON CONFLICT DO NOTHING ... RETURNING through the dialect's insert."""
    from sqlalchemy.dialects import sqlite

    statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=[conflict]) if conflict else insert(table)
    if returning:
        result = connection.execute(statement.returning(table.c[returning]), list(rows))
        return list(result.scalars())
    connection.execute(statement, list(rows))
    return []
