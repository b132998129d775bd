"""``efflab report``: a parameterized efficiency report (papermill) as offline HTML, with labels."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from efflab.paths import default_store

EPILOG = """\
Parameters (-p NAME VALUE, or keys of the --params YAML):
{params}

Lists are written [a, b] or a,b; None means "everything in the store".

Output in --out: report.html (no code, plotly.js embedded, opens offline), report.ipynb (the
executed notebook) and labels/ (one efficiency label per model, SVG and PNG). A failed run leaves
FAILED.txt and no report.html.

Batch mode: --params FILE.yaml holding a list of parameter sets writes one report per set into
--out/<name>/ (name: the set's `name` key, else its title) and --out/index.html linking them:

  - name: tiny
    models: [tiny-bert-l1, tiny-bert-l2]
    title: Tiny family
  - name: int8-only
    precisions: [int8]
    queries_per_day: 50000

-p values apply to every set; a set's own keys win. Every set is checked before the first runs.
The same notebook runs directly too:
  papermill notebooks/report.ipynb out.ipynb -p store_path data/results.sqlite
"""


def register(sub: Any) -> None:
    from efflab.report.params import PARAM_HELP

    width = max(len(k) for k in PARAM_HELP)
    lines = "\n".join(f"  {k.ljust(width)}  {v}" for k, v in PARAM_HELP.items())
    p = sub.add_parser(
        "report",
        help="write a parameterized efficiency report (HTML without code, labels) with papermill",
        description="Run the report notebook with papermill over a results store and export it to a "
        "self-contained HTML without code cells, with an efficiency label per model.",
        epilog=EPILOG.format(params=lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--store", type=Path, default=None, help=f"results store (default {default_store()})")
    p.add_argument("--out", type=Path, default=Path("out/report"), help="output folder (default out/report)")
    p.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        default=[],
        dest="parameters",
        help="a report parameter (repeatable); see below",
    )
    p.add_argument("--params", type=Path, help="YAML file: one parameter set, or a list of them (batch mode)")
    p.add_argument(
        "--cell-timeout", type=float, default=None, help="seconds each notebook cell may take (default none)"
    )
    p.add_argument(
        "--yes", "-y", action="store_true", help="with measure_missing: start a large run without asking"
    )
    p.set_defaults(func=run)


def _check_timeout(value: float | None) -> None:
    import math

    from efflab.errors import ReportError

    if value is not None and not (math.isfinite(value) and value > 0):
        msg = f"--cell-timeout must be a positive number of seconds, got {value}; e.g. --cell-timeout 600, or leave it out"
        raise ReportError(msg)


def _confirm_measuring(params: Any, yes: bool) -> None:
    """With measure_missing: say what will be measured and how long, and ask above the thresholds."""
    from efflab.cli.sweep import confirm_plan
    from efflab.store import open_store
    from efflab.sweep.plan import pending_points
    from efflab.sweep.spec import estimate_seconds

    spec = params.sweep_spec()
    store = Path(params.store_path).expanduser()
    if store.exists() and store.stat().st_size > 0:
        with open_store(store, readonly=True) as st:
            n, _ = pending_points(spec, st)
            if n:
                st.check_no_other_sweep()  # one line before a kernel starts; the notebook claims it
    else:
        n = len(spec)
    why = None
    if params.models is None:
        why = (
            "measure_missing with no models measures the built-in family grid (name models with "
            "-p models '[minilm-l2]')"
        )
    confirm_plan(n, len(spec), *estimate_seconds(spec, n), yes=yes, always_ask=why)


def run(args: argparse.Namespace) -> int:
    from efflab.report.batch import load_param_sets, plan_batch
    from efflab.report.params import ReportParams
    from efflab.report.run import check_out_dir, precheck, run_report

    _check_timeout(args.cell_timeout)
    check_out_dir(args.out)
    base: dict[str, Any] = {"store_path": str(args.store or default_store())}
    names = ReportParams.names()
    for name, value in args.parameters:
        if name not in names:
            ReportParams.from_dict({name: value})  # raises with the known names
        base[name] = value
    if args.params is not None:
        sets = load_param_sets(args.params)
        if isinstance(sets, list):
            return _batch(args, plan_batch(base, sets))
        base.update(sets)
    params = ReportParams.from_dict(base)
    precheck(params)
    if params.measure_missing:
        _confirm_measuring(params, args.yes)
    what = " (measuring missing points first)" if params.measure_missing else ""
    print(f"efflab report: running the report notebook over {params.store_path}{what}", flush=True)
    res = run_report(params, args.out, timeout_s=args.cell_timeout)
    print(f"report: {res.html} ({res.seconds:.0f} s)")
    print(f"notebook: {res.notebook}")
    if res.labels:
        print(f"labels: {len(res.labels)} files in {res.labels[0].parent}")
    return 0


def _batch(args: argparse.Namespace, jobs: list[Any]) -> int:
    from efflab.report.batch import run_batch
    from efflab.report.run import FAILED_NAME, ReportRunError

    for job in jobs:  # a set that measures says what and how long, and asks, like a single report
        if job.params.measure_missing:
            _confirm_measuring(job.params, args.yes)
    names = ", ".join(j.name for j in jobs)
    print(f"efflab report: {len(jobs)} reports into {args.out}/ ({names})", flush=True)
    index, entries = run_batch(jobs, args.out, timeout_s=args.cell_timeout)
    for e in entries:
        where = e.result.html if e.result is not None else args.out / e.job.name / FAILED_NAME
        print(f"  {e.job.name}: {'ok' if e.ok else 'FAILED'} -> {where}")
    print(f"index: {index}")
    failed = [e for e in entries if not e.ok]
    if failed:
        first = failed[0]
        msg = f"{len(failed)} of {len(entries)} reports failed ({first.job.name}: {first.error}); see {index}"
        raise ReportRunError(msg)
    return 0
