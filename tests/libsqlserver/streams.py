"""Hrana streams on SQLite: statements, batches and sequences, in Hrana's JSON structures."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Mapping
from typing import Any

#: Seconds a statement waits for another stream's lock before it fails with SQLITE_BUSY.
DEFAULT_BUSY_TIMEOUT_S = 5.0
#: Prefixes SQLite accepts on named parameters.
_PARAMETER_PREFIXES = (":", "@", "$")

Json = dict[str, Any]


class HranaError(Exception):
    """A request failed; becomes a Hrana ``Error`` structure (``message``, ``code``)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def to_json(self) -> Json:
        return {"message": self.message, "code": self.code}

    @classmethod
    def from_sqlite(cls, error: sqlite3.Error) -> HranaError:
        code = getattr(error, "sqlite_errorname", None) or "SQLITE_ERROR"
        return cls(str(error), code)


def value_from_json(value: Mapping[str, Any]) -> object:
    """A Hrana ``Value`` as the Python value sqlite3 binds."""
    kind = value.get("type")
    if kind == "null":
        return None
    if kind == "integer":
        return int(value["value"])
    if kind == "float":
        return float(value["value"])
    if kind == "text":
        return str(value["value"])
    if kind == "blob":
        return base64.b64decode(value["base64"])
    raise HranaError(f"unknown value type {kind!r}", "PROTO_ERROR")


def value_to_json(value: object) -> Json:
    """A value sqlite3 returned, as a Hrana ``Value``."""
    if value is None:
        return {"type": "null"}
    if isinstance(value, int):
        return {"type": "integer", "value": str(value)}
    if isinstance(value, float):
        return {"type": "float", "value": value}
    if isinstance(value, str):
        return {"type": "text", "value": value}
    if isinstance(value, bytes):
        return {"type": "blob", "base64": base64.b64encode(value).decode("ascii")}
    raise HranaError(f"unsupported column value {type(value).__name__}", "INTERNAL")


def split_statements(sql: str) -> list[str]:
    """Split SQL text into complete statements (semicolons inside literals stay put)."""
    statements: list[str] = []
    current = ""
    for piece in sql.split(";"):
        current = f"{current};{piece}" if current else piece
        if sqlite3.complete_statement(current + ";"):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements


class Stream:
    """One Hrana stream: one SQLite connection, used by one thread at a time."""

    def __init__(self, *, path: str, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
        # isolation_level=None: sqlite3 opens no transaction of its own; the client's SQL does.
        self.connection = sqlite3.connect(
            path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        self.connection.execute("PRAGMA foreign_keys=ON")

    def close(self) -> None:
        """Roll back whatever the client left open, then close the connection."""
        if self.connection.in_transaction:
            self.connection.rollback()
        self.connection.close()

    @property
    def is_autocommit(self) -> bool:
        return not self.connection.in_transaction

    def execute(self, stmt: Mapping[str, Any], sqls: Mapping[int, str]) -> Json:
        """Run one ``Stmt``; return its ``StmtResult`` or raise ``HranaError``."""
        sql = self._sql_of(stmt, sqls)
        parameters = self._parameters_of(stmt)
        try:
            cursor = self.connection.execute(sql, parameters)
            rows = cursor.fetchall()
        except sqlite3.Error as error:
            raise HranaError.from_sqlite(error) from error
        columns = [{"name": column[0], "decltype": None} for column in cursor.description or ()]
        want_rows = stmt.get("want_rows", True) is not False
        return {
            "cols": columns,
            "rows": [[value_to_json(v) for v in row] for row in rows] if want_rows else [],
            "affected_row_count": max(cursor.rowcount, 0),
            "last_insert_rowid": None if cursor.lastrowid is None else str(cursor.lastrowid),
        }

    def batch(self, batch: Mapping[str, Any], sqls: Mapping[int, str]) -> Json:
        """Run a ``Batch``: each step whose condition holds; errors go into the result."""
        results: list[Json | None] = []
        errors: list[Json | None] = []
        for step in batch.get("steps", []):
            condition = step.get("condition")
            if condition is not None and not self._holds(condition, results, errors):
                results.append(None)
                errors.append(None)
                continue
            try:
                results.append(self.execute(step["stmt"], sqls))
                errors.append(None)
            except HranaError as error:
                results.append(None)
                errors.append(error.to_json())
        return {"step_results": results, "step_errors": errors}

    def sequence(self, request: Mapping[str, Any], sqls: Mapping[int, str]) -> None:
        """Run statements separated by semicolons, stopping at the first error."""
        for sql in split_statements(self._sql_of(request, sqls)):
            try:
                self.connection.execute(sql).fetchall()
            except sqlite3.Error as error:
                raise HranaError.from_sqlite(error) from error

    def _holds(
        self, condition: Mapping[str, Any], results: list[Json | None], errors: list[Json | None]
    ) -> bool:
        kind = condition.get("type")
        if kind == "ok":
            return self._step(results, condition["step"]) is not None
        if kind == "error":
            return self._step(errors, condition["step"]) is not None
        if kind == "not":
            return not self._holds(condition["cond"], results, errors)
        if kind == "and":
            return all(self._holds(c, results, errors) for c in condition["conds"])
        if kind == "or":
            return any(self._holds(c, results, errors) for c in condition["conds"])
        if kind == "is_autocommit":
            return self.is_autocommit
        raise HranaError(f"unknown batch condition {kind!r}", "PROTO_ERROR")

    @staticmethod
    def _step(entries: list[Json | None], index: int) -> Json | None:
        if not 0 <= index < len(entries):
            raise HranaError(f"batch condition refers to step {index} not yet run", "PROTO_ERROR")
        return entries[index]

    @staticmethod
    def _sql_of(request: Mapping[str, Any], sqls: Mapping[int, str]) -> str:
        sql, sql_id = request.get("sql"), request.get("sql_id")
        if (sql is None) == (sql_id is None):
            raise HranaError("exactly one of sql and sql_id must be given", "PROTO_ERROR")
        if sql is not None:
            return str(sql)
        if not isinstance(sql_id, int) or sql_id not in sqls:
            raise HranaError(f"no stored SQL text with id {sql_id}", "SQL_ID_UNKNOWN")
        return sqls[sql_id]

    @staticmethod
    def _parameters_of(stmt: Mapping[str, Any]) -> list[object] | dict[str, object]:
        positional = [value_from_json(v) for v in stmt.get("args") or []]
        named = stmt.get("named_args") or []
        if positional and named:
            raise HranaError("positional and named arguments together", "ARGS_INVALID")
        if named:
            return {
                arg["name"].lstrip("".join(_PARAMETER_PREFIXES)): value_from_json(arg["value"])
                for arg in named
            }
        return positional
