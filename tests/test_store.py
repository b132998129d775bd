"""The results store: round trip, schema checks, and never touching a file that is not ours."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from efflab.errors import StoreError
from efflab.records import Measurement
from efflab.store import SCHEMA_VERSION, load_results, open_store

CFG = {
    "model": "tiny-bert-l1",
    "batch_size": 2,
    "precision": "fp32",
    "device": "cpu",
    "seq_len": 16,
    "task": None,
}


def test_round_trip_and_wal(tmp_path: Path, tiny_measurement: Measurement) -> None:
    p = tmp_path / "r.sqlite"
    with open_store(p) as st:
        st.put("k1", config=CFG, model_id="m", hardware="hw", measurement=tiny_measurement)
        st.put("k2", config={**CFG, "precision": "int8"}, model_id="m", hardware="hw", error="boom; try X")
        assert st.keys() == {"k1", "k2"} and st.keys(status="failed") == {"k2"}
        points = list(st.points())
    assert points[0].measurement == tiny_measurement
    assert points[1].status == "failed" and points[1].error == "boom; try X"
    mode = sqlite3.connect(p).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    df = load_results(p)
    assert list(df["status"]) == ["ok", "failed"]
    assert df.loc[0, "wh_per_1000_queries"] == pytest.approx(tiny_measurement.wh_per_1000_queries)
    assert df.loc[0, "cohort"] == "no task @ hw"
    assert df["accuracy"].isna().all()


def test_empty_or_missing_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="run `efflab sweep"):
        load_results(tmp_path / "missing.sqlite")
    with open_store(tmp_path / "new.sqlite"):
        pass
    assert load_results(tmp_path / "new.sqlite").empty


def _unchanged(p: Path, data: bytes) -> None:
    assert p.read_bytes() == data, "the store file was modified"


def test_not_sqlite_is_refused_untouched(tmp_path: Path) -> None:
    p = tmp_path / "notes.sqlite"
    p.write_bytes(b"these are my notes, not a database\n" * 10)
    data = p.read_bytes()
    with pytest.raises(StoreError, match="not an efflab results store"):
        open_store(p)
    _unchanged(p, data)


def test_other_sqlite_db_is_refused_untouched(tmp_path: Path) -> None:
    p = tmp_path / "other.db"
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE t (x)")
    con.execute("INSERT INTO t VALUES (1)")
    con.commit()
    con.close()
    data = p.read_bytes()
    with pytest.raises(StoreError, match="not an efflab results store"):
        open_store(p)
    _unchanged(p, data)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "future.sqlite"
    with open_store(p):
        pass
    con = sqlite3.connect(p)
    con.execute("UPDATE efflab_meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer than this efflab"):
        open_store(p)


def test_corrupt_store_is_refused_untouched(tmp_path: Path, tiny_measurement: Measurement) -> None:
    p = tmp_path / "c.sqlite"
    with open_store(p) as st:
        for i in range(50):
            st.put(f"k{i}", config=CFG, model_id="m", hardware="hw", measurement=tiny_measurement)
    con = sqlite3.connect(p)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    raw = bytearray(p.read_bytes())
    raw[100:4096] = b"\xff" * (4096 - 100)  # smash the first page after the header
    p.write_bytes(bytes(raw))
    data = p.read_bytes()
    with pytest.raises(StoreError):
        load_results(p)
    with pytest.raises(StoreError):
        open_store(p)
    _unchanged(p, data)


def test_reader_sees_committed_points_while_a_writer_is_open(
    tmp_path: Path, tiny_measurement: Measurement
) -> None:
    p = tmp_path / "live.sqlite"
    with open_store(p) as writer:
        writer.put("a", config=CFG, model_id="m", hardware="hw", measurement=tiny_measurement)
        assert len(load_results(p)) == 1
        writer.put("b", config=CFG, model_id="m", hardware="hw", measurement=tiny_measurement)
        assert len(load_results(p)) == 2


def test_export_csv_and_parquet(tmp_path: Path, small_store: Path) -> None:
    import pandas as pd
    from conftest import run_cli

    for fmt in ("csv", "parquet"):
        out = tmp_path / f"r.{fmt}"
        r = run_cli("results", "export", "--store", str(small_store), "--format", fmt, "--out", str(out))
        assert r.returncode == 0, r.stderr
        df = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
        assert len(df) == len(load_results(small_store))
    r = run_cli("results", "export", "--store", str(small_store), "--format", "xlsx")
    assert r.returncode == 2 and "unknown export format 'xlsx'" in r.stderr


def test_a_stored_point_is_a_typed_record_and_the_frame_its_view(small_store: Path) -> None:
    """The store returns typed points (a status enum, flags as a set of Flag); the frame reads the same."""
    from efflab.records import Flag, PointStatus
    from efflab.store import load_results, open_store
    from efflab.store.results import frame_of

    with open_store(small_store) as st:
        points = list(st.points())
    assert points and all(isinstance(p.status, PointStatus) for p in points)
    ok = [p for p in points if p.status is PointStatus.OK]
    assert ok and all(isinstance(f, Flag) for p in ok for f in p.flags)
    assert all(p.flags == frozenset() for p in points if p.status is PointStatus.FAILED)
    df = frame_of(points)
    assert list(df["status"]) == [str(p.status) for p in points] and set(df["status"]) <= {"ok", "failed"}
    assert df.equals(load_results(small_store))


def test_a_row_with_a_status_the_table_forbids_is_one_line_and_the_store_untouched(
    copy_store: Path,
) -> None:
    """A row whose status the table's CHECK forbids (forged past the constraint, as a damaged file or
    another tool could leave it) is a damaged store: one line naming the point and the status, from the
    library and from the CLI (exit 2), and the file is left as it was."""
    from conftest import run_cli

    from efflab.store import load_results

    con = sqlite3.connect(copy_store)
    con.execute("PRAGMA ignore_check_constraints = ON")
    (key,) = con.execute("SELECT key FROM points WHERE status = 'ok' LIMIT 1").fetchone()
    con.execute("UPDATE points SET status = 'okay' WHERE key = ?", (key,))
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    data = copy_store.read_bytes()
    with pytest.raises(StoreError, match=rf"point {key} has the status 'okay' \(damaged\)"):
        load_results(copy_store)
    r = run_cli("results", "list", "--store", str(copy_store))
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "'okay' (damaged)" in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    _unchanged(copy_store, data)
