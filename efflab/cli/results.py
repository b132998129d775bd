"""``efflab results list|export``: read the store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from efflab import format as fmt
from efflab.errors import ConfigError
from efflab.format import si, table
from efflab.models.tokens import PADDING_NOTE
from efflab.paths import default_store


def register(sub: Any) -> None:
    p = sub.add_parser(
        "results",
        help="list or export the results store",
        description="List or export the points in a results store.",
    )
    rs = p.add_subparsers(dest="results_cmd", metavar="ACTION")
    ls = rs.add_parser("list", help="print a table of the stored points")
    ls.add_argument("--store", type=Path, default=None, help=f"results store (default {default_store()})")
    ls.add_argument("--failed", action="store_true", help="only failed points, with their errors")
    ls.set_defaults(func=run_list)
    ex = rs.add_parser(
        "export",
        help="write the points to CSV, Parquet or BoAmps JSON",
        description="Write the points of a results store to a file. csv and parquet hold every point and "
        "column (energy and CO2e per 1000 queries and, for encoders, per 1M tokens: tokens_per_query is the "
        "seq_len every query is padded or truncated to, so padded tokens count). boamps writes a JSON array "
        "of BoAmps reports (Boavizta's format for the energy of an ML task, built with CodeCarbon's BoAmps "
        "data model), one per eligible point: failed, unstable and disturbed points are left out.",
    )
    ex.add_argument("--store", type=Path, default=None, help=f"results store (default {default_store()})")
    ex.add_argument("--format", default="csv", help="csv, parquet or boamps (default csv)")
    ex.add_argument("--model", default=None, help="only this model's points (default: every point)")
    ex.add_argument(
        "--out",
        "-o",
        type=Path,
        default=None,
        help="output file (default: results.<format>, boamps.json for boamps; - for stdout, CSV or BoAmps); "
        "never a results store",
    )
    ex.add_argument("--force", action="store_true", help="overwrite an existing output file (never a store)")
    ex.set_defaults(func=run_export)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def run_list(args: argparse.Namespace) -> int:
    from efflab.store import load_results

    df = load_results(args.store or default_store())
    if df.empty:
        print("the store is empty; run `efflab sweep` first", file=sys.stderr)
        return 0
    if args.failed:
        df = df[df["status"] == "failed"]
        print(
            table(
                [(r.model, r.batch_size, r.precision, r.device, r.error) for r in df.itertuples()],
                ["model", "batch", "precision", "device", "error"],
            )
        )
        return 0
    from efflab.analysis import AssessInputs, assess
    from efflab.analysis.eligibility import exclusion_kind_of
    from efflab.analysis.paired import load_pairings

    pairings = load_pairings(args.store or default_store())
    rows = []
    for cohort in assess(df).cohorts:
        a = assess(df, AssessInputs(cohort=cohort), pairings)
        rated = {m.key: m for m in a.ratings}
        for _, r in a.frame.iterrows():
            m = rated.get(str(r["key"]))
            if r["status"] != "ok":
                rows.append(
                    (
                        r["model"],
                        r["batch_size"],
                        r["precision"],
                        r["device"],
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        r["status"],
                    )
                )
                continue
            rows.append(
                (
                    r["model"],
                    r["batch_size"],
                    r["precision"],
                    r["device"],
                    si(r["latency_s"], "s"),
                    fmt.number(r["throughput_qps"]),
                    f"{fmt.wh(r['wh_per_1000_queries'])} ({fmt.energy_basis(r)})",
                    fmt.wh(r["wh_per_million_tokens"]),
                    fmt.si(r["co2e_g_per_1000_queries"], "g"),
                    fmt.si(r["co2e_g_per_million_tokens"], "g"),
                    fmt.stars(m.stars) if m is not None else "",
                    fmt.percent(r["accuracy"]),
                    ("eligible" if r["eligible"] else (exclusion_kind_of(r) or "excluded"))
                    + (f" · {r['flags']}" if r["flags"] else ""),
                )
            )
    print(
        table(
            rows,
            [
                "model",
                "batch",
                "precision",
                "device",
                "latency/batch",
                "q/s",
                "energy/1000 q",
                "energy/1M tok",
                "CO2e/1000 q",
                "CO2e/1M tok",
                "model stars",
                "accuracy",
                "eligible · flags",
            ],
        )
    )
    print(
        "model stars: one rating per model, shown on the configuration that sets it (its least-energy eligible "
        "one); see `efflab recommend`"
    )
    if df["tokens_per_query"].notna().any():
        print(f"{PADDING_NOTE} (CO2e at each point's grid intensity)")
    return 0


_SIDE_FILES = ("-wal", "-shm", "-journal")


def check_export_target(out: Path, store: Path, *, force: bool) -> None:
    """Refuse, before anything is read or written, an --out that would destroy data.

    Raises:
        ConfigError: ``out`` is the store, its -wal / -shm / -journal, an SQLite file or log
            (another store), a folder, in a folder that does not exist, not a regular file (a device,
            a FIFO), or an existing file without ``force``.
    """
    if out.exists() and out.is_dir():
        msg = f"--out {str(out)!r} is a folder; pass a file name such as {str(out / 'results.csv')!r}"
        raise ConfigError(msg)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        msg = (
            f"--out {str(out)!r}: the folder {str(parent)!r} does not exist; create it or pass another --out"
        )
        raise ConfigError(msg)
    # The store's own -wal / -shm / -journal hold points not yet in the main file: never a target,
    # even before SQLite has created them.
    side = {Path(str(store) + s).resolve() for s in _SIDE_FILES}
    if out.resolve() in side:
        msg = (
            f"refusing to write over {str(out)!r}: it is the write-ahead log or journal of the results "
            "store being exported; pass another --out such as results.csv"
        )
        raise ConfigError(msg)
    if out.exists() and not out.is_file():
        # A device, FIFO or socket: the export writes a temporary file and renames it over the
        # target, which would replace /dev/full or a named pipe by a CSV file.
        msg = f"--out {str(out)!r} is not a regular file; pass a file path, or --out - for CSV on stdout"
        raise ConfigError(msg)
    if out.exists():
        same = store.exists() and out.resolve() == store.resolve()
        try:
            with out.open("rb") as f:
                head = f.read(16)
        except OSError:
            head = b""
        is_sqlite = head == b"SQLite format 3\x00"
        is_wal = head[:4] in (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")
        if same or is_sqlite or is_wal or out.name.endswith(_SIDE_FILES):
            what = (
                "the results store being exported"
                if same
                else "an SQLite database (a results store?)"
                if is_sqlite
                else "an SQLite write-ahead log or journal"
            )
            msg = f"refusing to write over {str(out)!r}: it is {what}; pass another --out such as results.csv"
            raise ConfigError(msg)
        if not force:
            msg = f"--out {str(out)!r} already exists; pass --force to overwrite it, or another --out"
            raise ConfigError(msg)


def run_export(args: argparse.Namespace) -> int:
    import os
    import tempfile

    from efflab.store import load_results

    fmt = args.format.lower()
    if fmt not in ("csv", "parquet", "boamps"):
        msg = f"unknown export format {args.format!r}; use csv, parquet or boamps"
        raise ConfigError(msg)
    store = Path(args.store or default_store())
    out = args.out or Path("boamps.json" if fmt == "boamps" else f"results.{fmt}")
    to_stdout = str(out) == "-"
    if to_stdout and fmt == "parquet":
        msg = "parquet cannot go to stdout; pass --out FILE for parquet, or --format csv"
        raise ConfigError(msg)
    if not to_stdout:
        check_export_target(out, store, force=args.force)
        out = out.resolve() if out.is_symlink() else out  # write the file a link points to, keep the link
    df = load_results(store)
    left_out = 0
    text = ""
    if args.model is not None:
        from efflab.publish.boamps import only_model

        df = only_model(df, args.model)
    if fmt == "boamps":
        import json

        from efflab.publish.boamps import boamps_reports

        reports, left_out = boamps_reports(df)
        text = json.dumps(reports, indent=2, ensure_ascii=False) + "\n"
    if to_stdout:
        if fmt == "boamps":
            sys.stdout.write(text)
        else:
            df.to_csv(sys.stdout, index=False)
        return 0
    # Write next to the target, then rename: a failed export never leaves half a file.
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(dir=out.parent if str(out.parent) else ".", prefix=".efflab-export-")
        os.close(fd)
        if fmt == "csv":
            df.to_csv(tmp, index=False)
        elif fmt == "boamps":
            Path(tmp).write_text(text, encoding="utf-8")
        else:
            df.to_parquet(tmp, index=False)
        Path(tmp).replace(out)
    except OSError as e:
        msg = f"cannot write --out {str(out)!r}: {e.strerror or e}; pass a writable --out"
        raise ConfigError(msg) from e
    finally:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
    if fmt == "boamps":
        skipped = f" ({left_out} failed, unstable or disturbed point(s) left out)" if left_out else ""
        print(f"efflab: wrote {len(df) - left_out} BoAmps reports to {out}{skipped}", file=sys.stderr)
        return 0
    print(f"efflab: wrote {len(df)} points to {out}", file=sys.stderr)
    return 0
