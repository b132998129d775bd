"""SQLite results store: WAL mode, a schema version, one transaction per point.

A file that is not an efflab store, comes from a newer schema or is corrupt raises StoreError and
is never written to: the schema is created only in a new or empty file. Every open runs SQLite's
``quick_check`` (a zeroed or smashed page is refused, not read as fewer points); a store in a
read-only folder opens for reading; a writer also reads every record and run once (damage inside a
record passes SQLite's checks); a failure never replaces a stored success; one writer at a time
writes points to a store (a row in its ``sweeps`` table, no lock file).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import socket
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from efflab.errors import StoreError
from efflab.records import Flag, Measurement, PointStatus, Visit, parse_flags

if TYPE_CHECKING:
    from efflab.measuring.rerun import Run

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

# Who is sweeping into this store right now (added lazily: old stores open unchanged for reading).
# ``process_started`` (the writer process's start, seconds since the epoch) tells a live claim from
# one whose pid a later, unrelated process reuses; ``writer`` names who claimed (the lab, a sweep).
# Both were added later: a table without them gains them at the next claim, and a row without them
# is judged by its heartbeat's age (see ``Store._claim_is_live``).
_SWEEPS = """
CREATE TABLE IF NOT EXISTS sweeps (
    pid INTEGER NOT NULL, host TEXT NOT NULL, started_at TEXT NOT NULL, heartbeat_at TEXT NOT NULL,
    process_started REAL, writer TEXT,
    PRIMARY KEY (pid, host)
);
"""
_SWEEPS_ADDED = (("process_started", "REAL"), ("writer", "TEXT"))
# Every measurement of a key, kept when a later one replaces its point: the re-runs the run spread
# is learned from (efflab.measuring.rerun). Added lazily like ``sweeps``.
_RUNS = """
CREATE TABLE IF NOT EXISTS runs (
    key TEXT NOT NULL, hardware TEXT NOT NULL, at TEXT NOT NULL, latency_s REAL NOT NULL,
    latency_ci_windows_s REAL, n_windows INTEGER NOT NULL, flags TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_hardware ON runs (hardware, key);
"""
# Paired runs (efflab.measuring.rounds): every visit of every round, and one row per run saying how
# many looks its intervals are corrected for. Added lazily like ``runs``.
_PAIRED = """
CREATE TABLE IF NOT EXISTS paired_sessions (
    session TEXT PRIMARY KEY, started_at TEXT NOT NULL, hardware TEXT NOT NULL, purpose TEXT NOT NULL,
    looks INTEGER NOT NULL, visit_s REAL NOT NULL, rounds INTEGER NOT NULL, dropped INTEGER NOT NULL,
    stopped TEXT NOT NULL, wall_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS visits (
    session TEXT NOT NULL, round INTEGER NOT NULL, position INTEGER NOT NULL, key TEXT NOT NULL,
    hardware TEXT NOT NULL, at TEXT NOT NULL, queries INTEGER NOT NULL, wall_s REAL NOT NULL,
    energy_j REAL NOT NULL, cpu_s REAL, other_cpu_share REAL, disturbed INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS visits_key ON visits (key);
"""
# A sweep on another host whose heartbeat is older than this is taken to be dead (seconds); so is
# one on this host whose row has no process start time (written before it was recorded) and whose
# pid is alive: that pid may belong to an unrelated process by now.
STALE_SWEEP_S = 30 * 60
# Two readings of one process's start time differ by less than this (the boot time it is computed
# from moves with clock adjustments); a pid reused by another process starts later than that.
_START_TOLERANCE_S = 1.0
# Who holds a claim, as a message names it, when the row does not say.
DEFAULT_WRITER = "another sweep"


@dataclass(frozen=True)
class StoredPoint:
    """One row of the store: a typed record (its status an enum, its flags a set of ``Flag``); the
    frames the plots and tables read are views of these (``efflab.store.results.frame_of``)."""

    key: str
    status: PointStatus
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

    @property
    def flags(self) -> frozenset[Flag]:
        """The measurement's flags (none for a failed point)."""
        return frozenset() if self.measurement is None else parse_flags(self.measurement.flags)


def _finite_or_none(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False  # os.kill(0 or -1, 0) would ask about process groups, not a process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True


def process_started(pid: int) -> float | None:
    """When process ``pid`` on this machine started, in seconds since the epoch (psutil's
    ``create_time``: on Linux the boot time plus /proc/PID/stat's start ticks); None when there is no
    such process or its start cannot be read."""
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError, ValueError, OverflowError):
        return None


class StoreBusyError(StoreError):
    """Another live writer holds the store's claim; its fields name it."""

    def __init__(self, message: str, *, pid: int, host: str, started_at: str, writer: str) -> None:
        super().__init__(message)
        self.pid = pid
        self.host = host
        self.started_at = started_at
        self.writer = writer


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _check_header(path: Path) -> None:
    if path.is_dir():
        msg = f"results store {str(path)!r} is a folder; pass the path of a .sqlite file as --store"
        raise StoreError(msg)
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
        self._sweep_claim: tuple[int, str] | None = None
        self._runs_ready = False
        if len(str(self.path)) > 4000 or any(len(part) > 255 for part in self.path.parts):
            msg = f"results store path is too long ({len(str(self.path))} characters); pass a shorter --store"
            raise StoreError(msg)
        exists = self.path.exists() and not self.path.is_dir() and self.path.stat().st_size > 0
        if self.path.is_dir() or exists:
            _check_header(self.path)
        elif readonly:
            msg = f"no results store at {str(self.path)!r}; run `efflab sweep --store {self.path}` first"
            raise StoreError(msg)
        if not readonly:
            self._check_writable()
        try:
            if readonly:
                self._con = self._connect_readonly()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._con = sqlite3.connect(self.path, timeout=30)
            self._con.row_factory = sqlite3.Row
            self._validate_or_create(exists)
        except sqlite3.DatabaseError as e:
            self._close_quietly()
            msg = (
                f"results store {str(self.path)!r} is corrupt ({_first_line(e)}); it was left untouched — "
                "restore it from a backup, or pass another --store to start a new one"
            )
            raise StoreError(msg) from e
        except StoreError:
            self._close_quietly()
            raise

    def _close_quietly(self) -> None:
        con = getattr(self, "_con", None)
        if con is not None:
            with contextlib.suppress(sqlite3.Error):
                con.close()

    def _check_writable(self) -> None:
        """Say plainly when the store cannot be written, before anything is measured."""
        folder = self.path.parent if str(self.path.parent) else Path(".")
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if probe.exists() and not probe.is_dir():
            msg = f"cannot create results store {str(self.path)!r}: {str(probe)!r} is a file, not a folder"
            raise StoreError(msg)
        if not os.access(probe, os.W_OK) or (self.path.exists() and not os.access(self.path, os.W_OK)):
            where = self.path if self.path.exists() and not os.access(self.path, os.W_OK) else probe
            msg = (
                f"results store {str(self.path)!r} cannot be written: {str(where)!r} is read-only; reading "
                "works (`efflab results list --store ...`), to measure pass a --store in a writable folder"
            )
            raise StoreError(msg)

    def _connect_readonly(self) -> sqlite3.Connection:
        uri = f"file:{self.path.resolve()}?mode=ro"
        try:
            con = sqlite3.connect(uri, uri=True, timeout=30)
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return con
        except sqlite3.OperationalError:
            # A WAL store in a read-only folder: SQLite cannot create its -shm file. With no
            # pending WAL frames the file alone is the whole store, so open it as immutable.
            wal = Path(str(self.path) + "-wal")
            if os.access(self.path.parent, os.W_OK):
                raise
            if wal.exists() and wal.stat().st_size > 0:
                # Points still in the log: opening the file alone would misread the store as fewer
                # points, and SQLite needs a writable folder for the log's index. Not corrupt.
                msg = (
                    f"results store {str(self.path)!r} has points in its write-ahead log {wal.name!r} that "
                    "are not in the main file yet, and its folder is read-only, so SQLite cannot read them; "
                    "copy the store with its -wal to a writable folder (or make this one writable) and open "
                    "it there — the store is not damaged"
                )
                raise StoreError(msg) from None
            con = sqlite3.connect(f"file:{self.path.resolve()}?mode=ro&immutable=1", uri=True, timeout=30)
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return con

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
        raw_version = str(meta.get("schema_version", "0")).strip()
        if not raw_version.isdigit():
            msg = (
                f"results store {str(self.path)!r} has an unreadable schema version {raw_version[:40]!r} "
                "(damaged); it was left untouched — restore it from a backup or pass another --store"
            )
            raise StoreError(msg)
        version = int(raw_version)
        if version > SCHEMA_VERSION:
            msg = (
                f"results store {str(self.path)!r} has schema version {version}, newer than this efflab "
                f"understands ({SCHEMA_VERSION}); upgrade efflab"
            )
            raise StoreError(msg)
        if "points" not in tables:
            msg = f"results store {str(self.path)!r} is missing its points table (damaged); move it aside and re-run"
            raise StoreError(msg)
        # quick_check reads every page (a zeroed page fails it) but skips index cross-checks: a few
        # ms for 1,000 points (bench/faults.py), so every open runs it.
        problems = [str(r[0]) for r in con.execute("PRAGMA quick_check(3)").fetchall()]
        if problems != ["ok"]:
            first = " ".join(problems[0].replace("*** in database main ***", "").split())
            msg = (
                f"results store {str(self.path)!r} is corrupt ({first}); it was left untouched — "
                "restore it from a backup, or pass another --store to start a new one"
            )
            raise StoreError(msg)
        if not self.readonly:
            # A writer reads every record first (before anything is written, even the journal
            # mode): nothing is measured into a damaged store.
            self.check_readable()
            con.execute("PRAGMA journal_mode=WAL")

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

    def runs(self, hardware: str) -> list[Run]:
        """Every run stored for ``hardware`` that counts for the run spread (neither disturbed nor
        unstable), oldest first; none in a store written before runs were kept.

        Raises:
            StoreError: a run row is damaged.
        """
        if not self._con.execute("SELECT 1 FROM sqlite_master WHERE name='runs'").fetchone():
            return []
        rows = self._con.execute(
            "SELECT key, latency_s, latency_ci_windows_s, n_windows, flags FROM runs WHERE hardware = ? "
            "ORDER BY at, rowid",
            (hardware,),
        ).fetchall()
        out = []
        for key, lat, ci, k, flags in rows:
            run = self._run(key, lat, ci, k)
            if {Flag.DISTURBED, Flag.UNSTABLE} & parse_flags(flags):
                continue
            out.append(run)
        return out

    def _run(self, key: object, lat: object, ci: object, k: object) -> Run:
        """One row of ``runs`` as a Run; a damaged row (text, NaN or a negative where a latency,
        an interval or a window count belongs) raises StoreError, never a guessed number."""
        from efflab.measuring.rerun import Run

        def number(v: object, *, integer: bool = False) -> float:
            ok = isinstance(v, int) or (isinstance(v, float) and not integer)
            if not ok or not math.isfinite(float(v)) or float(v) < 0:  # type: ignore[arg-type]
                raise ValueError
            return float(v)  # type: ignore[arg-type]

        try:
            run = Run(
                str(key),
                number(lat),
                number(ci) if ci is not None else None,
                int(number(k, integer=True)),
            )
            if run.mean <= 0 or run.n_windows < 1:
                raise ValueError
        except ValueError:
            msg = (
                f"results store {str(self.path)!r}: a run of point {key} in its runs table is damaged "
                f"(latency {lat!r}, interval {ci!r}, windows {k!r}); the store was left untouched — "
                "restore it from a backup"
            )
            raise StoreError(msg) from None
        return run

    def check_readable(self) -> None:
        """Read every record and every run once: damage inside a record (a zeroed overflow page
        passes SQLite's checks) is refused before a sweep measures into the store.

        Raises:
            StoreError: naming the first damaged point or run.
        """
        for _ in self.points():
            pass
        self.visits()
        if self._con.execute("SELECT 1 FROM sqlite_master WHERE name='runs'").fetchone():
            for row in self._con.execute("SELECT key, latency_s, latency_ci_windows_s, n_windows FROM runs"):
                self._run(*row)

    def points(self) -> Iterator[StoredPoint]:
        """Every stored point, oldest first, read in one consistent snapshot."""
        if not self._has_points():
            return iter(())
        try:
            rows = self._con.execute("SELECT * FROM points ORDER BY created_at, rowid").fetchall()
        except sqlite3.DatabaseError as e:
            msg = f"results store {str(self.path)!r} cannot be read ({e}); it was left untouched"
            raise StoreError(msg) from e
        return iter([self._row(r) for r in rows])

    def _row(self, r: sqlite3.Row) -> StoredPoint:
        if r["status"] not in ("ok", "failed"):  # the table's CHECK forbids it: a damaged row
            msg = (
                f"results store {str(self.path)!r}: point {r['key']} has the status {r['status']!r} "
                "(damaged); the store was left untouched — restore it from a backup"
            )
            raise StoreError(msg)
        rec = None
        if r["record"]:
            try:
                rec = Measurement.from_json(r["record"])
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                msg = (
                    f"results store {str(self.path)!r}: the record of point {r['key']} ({r['model']} "
                    f"b{r['batch_size']} {r['precision']}) is damaged ({type(e).__name__}); the store was "
                    "left untouched — restore it from a backup"
                )
                raise StoreError(msg) from e
        elif r["status"] == "ok":
            msg = (
                f"results store {str(self.path)!r}: point {r['key']} ({r['model']} b{r['batch_size']} "
                f"{r['precision']}) is marked ok but has no record (damaged); the store was left untouched "
                "— restore it from a backup"
            )
            raise StoreError(msg)
        return StoredPoint(
            r["key"],
            PointStatus(r["status"]),
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

    def meta(self, key: str) -> str | None:
        """A value of the store's ``efflab_meta`` table (None when absent)."""
        if not self._has_table("efflab_meta"):
            return None
        row = self._con.execute("SELECT value FROM efflab_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of ``efflab_meta`` (one committed transaction).

        Raises:
            StoreError: the store was opened read-only or cannot be written.
        """
        if self.readonly:
            msg = f"results store {str(self.path)!r} was opened read-only"
            raise StoreError(msg)
        if key in ("app", "schema_version", "created_at"):
            msg = f"efflab_meta key {key!r} is the store's own"
            raise StoreError(msg)
        try:
            with self._con:
                self._con.execute("INSERT OR REPLACE INTO efflab_meta VALUES (?, ?)", (key, value))
        except sqlite3.DatabaseError as e:
            msg = f"cannot write to results store {str(self.path)!r} ({_first_line(e)}); check the disk and the file"
            raise StoreError(msg) from e

    def _has_table(self, name: str) -> bool:
        return bool(self._con.execute("SELECT 1 FROM sqlite_master WHERE name=?", (name,)).fetchone())

    def visits(self, keys: set[str] | None = None) -> list[Visit]:
        """Every stored visit of a paired run (of the runs that visited any of ``keys``), in run and
        round order; none in a store written before paired runs were kept.

        Raises:
            StoreError: a visit row is damaged.
        """
        if not self._has_table("visits"):
            return []
        q = (
            "SELECT session, round, position, key, hardware, at, queries, wall_s, energy_j, cpu_s, "
            "other_cpu_share, disturbed FROM visits"
        )
        args: tuple[Any, ...] = ()
        if keys is not None:
            if not keys:
                return []
            marks = ",".join("?" * len(keys))
            q += f" WHERE session IN (SELECT DISTINCT session FROM visits WHERE key IN ({marks}))"
            args = tuple(sorted(keys))
        out = []
        for row in self._con.execute(q + " ORDER BY session, round, position", args).fetchall():
            try:
                s_, rnd, pos, key, hw, at, n, wall, e, cpu, other, dist = row
                ok = (
                    isinstance(rnd, int)
                    and isinstance(pos, int)
                    and isinstance(n, int)
                    and n > 0
                    and all(isinstance(x, (int, float)) and math.isfinite(x) and x >= 0 for x in (wall, e))
                    and all(
                        x is None or (isinstance(x, (int, float)) and math.isfinite(x)) for x in (cpu, other)
                    )
                )
                if not ok:
                    raise ValueError
                out.append(
                    Visit(str(s_), rnd, pos, str(key), n, float(wall), float(e),
                          None if cpu is None else float(cpu), None if other is None else float(other),
                          bool(dist), str(hw), str(at))
                )  # fmt: skip
            except (ValueError, TypeError):
                msg = (
                    f"results store {str(self.path)!r}: a visit of paired run {row[0]!r} is damaged "
                    f"({row!r:.120}); the store was left untouched — restore it from a backup"
                )
                raise StoreError(msg) from None
        return out

    def paired_looks(self) -> dict[str, int]:
        """How many looks each stored paired run's intervals are corrected for."""
        if not self._has_table("paired_sessions"):
            return {}
        return {
            str(s): max(1, int(k)) if isinstance(k, int) else 1
            for s, k in self._con.execute("SELECT session, looks FROM paired_sessions")
        }

    def paired_sessions(self) -> list[dict[str, Any]]:
        """Every stored paired run (session, started_at, hardware, purpose, looks, visit_s, rounds,
        dropped, stopped, wall_s), oldest first."""
        if not self._has_table("paired_sessions"):
            return []
        rows = self._con.execute("SELECT * FROM paired_sessions ORDER BY started_at, session").fetchall()
        return [dict(r) for r in rows]

    def put_paired(
        self,
        session: str,
        visits: Sequence[Visit],
        *,
        hardware: str,
        purpose: str,
        looks: int,
        visit_s: float,
        rounds: int,
        dropped: int,
        stopped: str,
        wall_s: float,
    ) -> None:
        """Store one paired run (its session row and every visit) in one committed transaction.

        Raises:
            StoreError: the store was opened read-only or cannot be written.
        """
        if self.readonly:
            msg = f"results store {str(self.path)!r} was opened read-only"
            raise StoreError(msg)
        try:
            self._con.executescript(_PAIRED)
            with self._con:
                self._con.execute(
                    "INSERT OR REPLACE INTO paired_sessions VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (session, _now(), hardware, purpose, int(looks), float(visit_s), int(rounds),
                     int(dropped), stopped, float(wall_s)),
                )  # fmt: skip
                self._con.execute("DELETE FROM visits WHERE session = ?", (session,))
                self._con.executemany(
                    "INSERT INTO visits VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    [
                        (v.session, v.round, v.position, v.key, v.hardware or hardware, v.at or _now(),
                         int(v.queries), float(v.wall_s), float(v.energy_j), v.cpu_s, v.other_cpu_share,
                         int(v.disturbed))
                        for v in visits
                    ],
                )  # fmt: skip
                if self._sweep_claim is not None:
                    self._con.execute(
                        "UPDATE sweeps SET heartbeat_at=? WHERE pid=? AND host=?",
                        (_now(), *self._sweep_claim),
                    )
        except sqlite3.DatabaseError as e:
            msg = (
                f"cannot write to results store {str(self.path)!r} ({_first_line(e)}); the points stored "
                "before were kept — check the disk and the file"
            )
            raise StoreError(msg) from e

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
        new_run: bool = True,
    ) -> bool:
        """Insert or replace one point in its own committed transaction.

        A failure never replaces a stored success: a failed point whose key is stored ``ok`` leaves
        that row as it was, and ``put`` returns False. Returns True when the row was written. A
        measurement is also kept as a run of its key (see :meth:`runs`) unless ``new_run`` is False
        (a point given more windows: the same run, longer).

        Raises:
            StoreError: the store was opened read-only or cannot be written.
        """
        if self.readonly:
            msg = f"results store {str(self.path)!r} was opened read-only"
            raise StoreError(msg)
        status = "ok" if measurement is not None and error is None else "failed"
        record = json.dumps(measurement.to_dict()) if measurement is not None else None
        row = (
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
            _now(),
            record,
        )
        try:
            if new_run and measurement is not None and not self._runs_ready:
                self._con.executescript(_RUNS)  # its own statement: executescript commits first
                self._runs_ready = True
            with self._con:
                cur = self._con.execute(
                    "INSERT INTO points VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET "
                    "status=excluded.status, model=excluded.model, model_id=excluded.model_id, "
                    "batch_size=excluded.batch_size, precision=excluded.precision, device=excluded.device, "
                    "seq_len=excluded.seq_len, task=excluded.task, hardware=excluded.hardware, "
                    "error=excluded.error, created_at=excluded.created_at, record=excluded.record "
                    "WHERE excluded.status = 'ok' OR points.status != 'ok'",
                    row,
                )
                written = cur.rowcount > 0
                if written and new_run and measurement is not None and status == "ok":
                    self._con.execute(
                        "INSERT INTO runs VALUES (?,?,?,?,?,?,?)",
                        (
                            key,
                            hardware,
                            _now(),
                            measurement.latency_s,
                            _finite_or_none(
                                measurement.latency_ci_windows_s
                                if measurement.run_spread is not None
                                else measurement.latency_ci_s
                            ),
                            int(measurement.n_windows),
                            ",".join(measurement.flags),
                        ),
                    )
                if self._sweep_claim is not None:
                    self._con.execute(
                        "UPDATE sweeps SET heartbeat_at=? WHERE pid=? AND host=?",
                        (_now(), *self._sweep_claim),
                    )
        except sqlite3.DatabaseError as e:
            msg = (
                f"cannot write to results store {str(self.path)!r} ({_first_line(e)}); the points stored "
                "before were kept — check the disk and the file, then re-run to measure the rest"
            )
            raise StoreError(msg) from e
        return written

    # ----- one writer at a time -----
    def _sweep_columns(self) -> set[str] | None:
        """The ``sweeps`` table's columns, or None when the store has no such table."""
        if not self._con.execute("SELECT 1 FROM sqlite_master WHERE name='sweeps'").fetchone():
            return None
        return {str(r[1]) for r in self._con.execute("PRAGMA table_info(sweeps)")}

    @staticmethod
    def _claim_is_live(
        pid: int, host: str, proc_start: float | None, heartbeat_age_s: float, here: str
    ) -> bool:
        """Whether a claim row belongs to a writer still running.

        On this host: its pid must be alive and, when the row recorded the process's start time,
        started then (a pid reused by an unrelated process does not hold the store); a row without
        a start time (written before it was recorded) counts only while its heartbeat is younger
        than ``STALE_SWEEP_S``. On another host (its processes are out of sight): while its
        heartbeat is younger than ``STALE_SWEEP_S``.
        """
        fresh = heartbeat_age_s < STALE_SWEEP_S
        if host != here:
            return fresh
        if not _pid_alive(pid):
            return False
        if proc_start is None:
            return fresh
        now_start = process_started(pid)
        if now_start is None:
            return fresh  # alive but unreadable (another user's process on some systems)
        return abs(now_start - proc_start) < _START_TOLERANCE_S

    def _other_sweep(self, me: tuple[int, str]) -> StoreBusyError | None:
        """The error naming another live writer's claim, or None (dead or stale claims do not count)."""
        cols = self._sweep_columns()
        if cols is None:
            return None
        extra = [c if c in cols else "NULL" for c, _ in _SWEEPS_ADDED]
        rows = self._con.execute(
            f"SELECT pid, host, started_at, heartbeat_at, {', '.join(extra)} FROM sweeps"
        ).fetchall()
        now = _dt.datetime.now(_dt.timezone.utc)
        for r in rows:
            try:
                pid = int(r[0])
            except (TypeError, ValueError):
                continue  # a damaged claim row claims nothing
            host, started, beat = str(r[1]), str(r[2]), str(r[3])
            if (pid, host) == me:
                continue
            try:
                age = (now - _dt.datetime.fromisoformat(beat)).total_seconds()
            except (TypeError, ValueError):
                age = float("inf")
            try:
                proc_start = float(r[4]) if r[4] is not None else None
            except (TypeError, ValueError):
                proc_start = None
            if self._claim_is_live(pid, host, proc_start, age, me[1]):
                writer = str(r[5]) if r[5] else DEFAULT_WRITER
                msg = (
                    f"{writer} (pid {pid} on {host}, started {started}) is writing to "
                    f"{str(self.path)!r}; wait for it to finish, or pass another --store"
                )
                return StoreBusyError(msg, pid=pid, host=host, started_at=started, writer=writer)
        return None

    def check_no_other_sweep(self) -> None:
        """Refuse, without writing anything, when another live writer holds this store.

        Raises:
            StoreBusyError: naming the other writer, its pid, host and start.
            StoreError: the store cannot be read.
        """
        try:
            other = self._other_sweep((os.getpid(), socket.gethostname()))
        except sqlite3.DatabaseError as e:
            msg = f"cannot read results store {str(self.path)!r} ({_first_line(e)}); it was left untouched"
            raise StoreError(msg) from e
        if other is not None:
            raise other

    def claim_sweep(self, *, writer: str = DEFAULT_WRITER) -> None:
        """Record that this process writes points into the store; refuse when another live writer does.

        Every writer of points claims the store (``efflab sweep``, a report that measures, the lab's
        live Measure). The claim is a row (pid, host, the process's start time, heartbeat, ``writer``
        — how another writer's refusal names this one, e.g. "the lab's live Measure") in the
        ``sweeps`` table, refreshed by every ``put`` and removed by ``release_sweep`` / ``close``. A
        claim whose writer is gone is taken over: see :meth:`_claim_is_live`.

        Raises:
            StoreBusyError: another writer holds the store (named with its pid, host and start).
            StoreError: the store was opened read-only or cannot be written.
        """
        if self.readonly:
            msg = f"results store {str(self.path)!r} was opened read-only"
            raise StoreError(msg)
        me = (os.getpid(), socket.gethostname())
        try:
            self._con.executescript(_SWEEPS)
            cols = self._sweep_columns() or set()
            for name, kind in _SWEEPS_ADDED:
                if name not in cols:  # a table from before the column: NULL in its old rows
                    try:
                        self._con.execute(f"ALTER TABLE sweeps ADD COLUMN {name} {kind}")
                    except sqlite3.OperationalError as e:
                        if "duplicate column" not in str(e):
                            raise  # another writer added it a moment ago: fine
            self._con.commit()
            self._con.execute("BEGIN IMMEDIATE")
            try:
                other = self._other_sweep(me)
                if other is not None:
                    raise other
                self._con.execute("DELETE FROM sweeps WHERE NOT (pid=? AND host=?)", me)
                self._con.execute(
                    "INSERT OR REPLACE INTO sweeps (pid, host, started_at, heartbeat_at, process_started, "
                    "writer) VALUES (?,?,?,?,?,?)",
                    (*me, _now(), _now(), process_started(me[0]), writer),
                )
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as e:
            msg = f"cannot write to results store {str(self.path)!r} ({_first_line(e)}); check the disk and the file"
            raise StoreError(msg) from e
        self._sweep_claim = me

    def release_sweep(self) -> None:
        """Remove this process's claim (no-op without one)."""
        if self._sweep_claim is None:
            return
        try:
            with self._con:
                self._con.execute("DELETE FROM sweeps WHERE pid=? AND host=?", self._sweep_claim)
        except sqlite3.DatabaseError:
            pass  # a dead claim is taken over by the next writer (pid and start time)
        self._sweep_claim = None

    def close(self) -> None:
        self.release_sweep()
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(path: str | Path, *, readonly: bool = False) -> Store:
    """Open (or create) the results store at ``path``."""
    return Store(path, readonly=readonly)
