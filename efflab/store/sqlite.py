"""SQLite results store: WAL mode, a schema version, one transaction per point.

A file that is not an efflab store, comes from a newer schema or is corrupt raises StoreError and
is never written to: the schema is created only in a new or empty file.
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from efflab.errors import StoreError
from efflab.records import Measurement

SCHEMA_VERSION = 1
APP = "efflab"
_SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE efflab_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE points (
    key TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    model TEXT NOT NULL,
    model_id TEXT NOT NULL,
    batch_size INTEGER NOT NULL,
    precision TEXT NOT NULL,
    device TEXT NOT NULL,
    seq_len INTEGER NOT NULL,
    task TEXT,
    hardware TEXT NOT NULL,
    error TEXT,
    created_at TEXT NOT NULL,
    record TEXT
);
CREATE INDEX points_cohort ON points (task, hardware);
"""


@dataclass(frozen=True)
class StoredPoint:
    """One row of the store."""

    key: str
    status: str
    model: str
    model_id: str
    batch_size: int
    precision: str
    device: str
    seq_len: int
    task: str | None
    hardware: str
    error: str | None
    created_at: str
    measurement: Measurement | None


def _check_header(path: Path) -> None:
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as e:
        msg = f"cannot read store {str(path)!r}: {e.strerror}; check the path and its permissions"
        raise StoreError(msg) from e
    if head and head != _SQLITE_MAGIC:
        msg = f"{str(path)!r} is not an efflab results store (not an SQLite file); pass another --store path"
        raise StoreError(msg)


class Store:
    """An efflab results store in one SQLite file.

    Writers commit one transaction per point; readers (the dashboard) can read while a sweep
    writes, thanks to WAL. Use as a context manager or call ``close()``.

    Raises:
        StoreError: not an efflab store, a newer schema, corrupt, or (read-only) missing.
    """

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        exists = self.path.exists() and self.path.stat().st_size > 0
        if exists:
            _check_header(self.path)
        elif readonly:
            msg = f"no results store at {str(self.path)!r}; run `efflab sweep --store {self.path}` first"
            raise StoreError(msg)
        try:
            if readonly:
                self._con = sqlite3.connect(f"file:{self.path.resolve()}?mode=ro", uri=True, timeout=30)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._con = sqlite3.connect(self.path, timeout=30)
            self._con.row_factory = sqlite3.Row
            self._validate_or_create(exists)
        except sqlite3.DatabaseError as e:
            msg = f"results store {str(self.path)!r} is corrupt or unreadable ({e}); it was left untouched — move it aside and re-run"
            raise StoreError(msg) from e

    def _validate_or_create(self, exists: bool) -> None:
        con = self._con
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            if self.readonly:
                return  # empty file: an empty store
            with con:
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(_SCHEMA)
                now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
                con.executemany(
                    "INSERT INTO efflab_meta VALUES (?, ?)",
                    [("app", APP), ("schema_version", str(SCHEMA_VERSION)), ("created_at", now)],
                )
            return
        if "efflab_meta" not in tables:
            msg = f"{str(self.path)!r} is an SQLite database but not an efflab results store; pass another --store path"
            raise StoreError(msg)
        meta = dict(con.execute("SELECT key, value FROM efflab_meta").fetchall())
        if meta.get("app") != APP:
            msg = f"{str(self.path)!r} is not an efflab results store (app={meta.get('app')!r}); pass another --store path"
            raise StoreError(msg)
        version = int(meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            msg = (
                f"results store {str(self.path)!r} has schema version {version}, newer than this efflab "
                f"understands ({SCHEMA_VERSION}); upgrade efflab"
            )
            raise StoreError(msg)
        if "points" not in tables:
            msg = f"results store {str(self.path)!r} is missing its points table (damaged); move it aside and re-run"
            raise StoreError(msg)
        if not self.readonly:
            con.execute("PRAGMA journal_mode=WAL")
        # A cheap structural check; full integrity_check is too slow for large stores.
        con.execute("SELECT count(*) FROM points").fetchone()

    # ----- reading -----
    def keys(self, *, status: str | None = None) -> set[str]:
        q = "SELECT key FROM points" + (" WHERE status = ?" if status else "")
        return {r[0] for r in self._con.execute(q, (status,) if status else ())}

    def __len__(self) -> int:
        return (
            int(self._con.execute("SELECT count(*) FROM points").fetchone()[0]) if self._has_points() else 0
        )

    def _has_points(self) -> bool:
        return bool(self._con.execute("SELECT 1 FROM sqlite_master WHERE name='points'").fetchone())

    def points(self) -> Iterator[StoredPoint]:
        """Every stored point, oldest first, read in one consistent snapshot."""
        if not self._has_points():
            return iter(())
        try:
            rows = self._con.execute("SELECT * FROM points ORDER BY created_at, rowid").fetchall()
        except sqlite3.DatabaseError as e:
            msg = f"results store {str(self.path)!r} cannot be read ({e}); it was left untouched"
            raise StoreError(msg) from e
        return (self._row(r) for r in rows)

    @staticmethod
    def _row(r: sqlite3.Row) -> StoredPoint:
        rec = Measurement.from_json(r["record"]) if r["record"] else None
        return StoredPoint(
            r["key"],
            r["status"],
            r["model"],
            r["model_id"],
            r["batch_size"],
            r["precision"],
            r["device"],
            r["seq_len"],
            r["task"],
            r["hardware"],
            r["error"],
            r["created_at"],
            rec,
        )

    # ----- writing -----
    def put(
        self,
        key: str,
        *,
        config: dict[str, Any],
        model_id: str,
        hardware: str,
        measurement: Measurement | None = None,
        error: str | None = None,
    ) -> None:
        """Insert or replace one point in its own committed transaction."""
        if self.readonly:
            msg = f"results store {str(self.path)!r} was opened read-only"
            raise StoreError(msg)
        status = "ok" if measurement is not None and error is None else "failed"
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        record = json.dumps(measurement.to_dict()) if measurement is not None else None
        with self._con:
            self._con.execute(
                "INSERT OR REPLACE INTO points VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    key,
                    status,
                    config["model"],
                    model_id,
                    int(config["batch_size"]),
                    config["precision"],
                    config["device"],
                    int(config["seq_len"]),
                    config.get("task"),
                    hardware,
                    error,
                    now,
                    record,
                ),
            )

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(path: str | Path, *, readonly: bool = False) -> Store:
    """Open (or create) the results store at ``path``."""
    return Store(path, readonly=readonly)
