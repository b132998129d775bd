"""The lab's analyst tools without a browser: the points table's rows and the pinned comparison."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from efflab.store import load_results
from widgets.pins import compare_pair
from widgets.table import points_table_rows


def test_table_rows_carry_raw_values_that_read_back_as_csv(small_store: Path) -> None:
    df = load_results(small_store)
    cols, rows, sel = points_table_rows(df, selected=df.index[0])
    assert sel == str(df.iloc[0]["key"]) and len(rows) == len(df)
    names = [c[0] for c in cols]
    assert {"model", "batch_size", "precision", "wh_per_1000_queries", "accuracy"} <= set(names)
    # What the page's export writes: the raw values under the column names.
    import csv

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(names)
    w.writerows([["" if v is None else v for v in r["values"]] for r in rows])
    back = pd.read_csv(io.StringIO(buf.getvalue()))
    assert len(back) == len(df)
    assert back["wh_per_1000_queries"].tolist() == df["wh_per_1000_queries"].tolist()
    # Shown text has no scientific notation.
    assert not any("e-0" in c or "e+0" in c for r in rows for c in r["cells"])


def test_pinned_comparison_says_whether_each_difference_is_distinguishable(small_store: Path) -> None:
    df = load_results(small_store)
    a, b = df.iloc[0], df.iloc[1]
    got = {what: (diff, verdict) for what, diff, verdict in compare_pair(a, b)}
    assert set(got) == {"energy", "latency per query", "accuracy"}
    verdicts = ("lower", "higher", "equivalent", "no clear difference")
    assert all(v.startswith(verdicts) and "95 % interval" in v for _, v in got.values())
    same = compare_pair(a, a)
    assert all(v.startswith(("no clear difference", "equivalent")) for _, _, v in same)
    far = b.copy()
    far["energy_j_per_query"] = a["energy_j_per_query"] * 100
    assert compare_pair(a, far)[0][2].startswith("higher")
