"""``efflab zoo list|build``: the offline model family."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from efflab.format import table


def register(sub: Any) -> None:
    p = sub.add_parser(
        "zoo",
        help="list or build the offline model family",
        description=(
            "The offline model family on the built-in reviews task: a TF-IDF baseline, layer slices of "
            "all-MiniLM-L6-v2 fine-tuned on the task, and a 2-layer student distilled from the 6-layer "
            "one; and a general-purpose generative model (SmolLM2-135M-Instruct) scored on the task by "
            "prompting. Models are built on first use and cached (see `efflab zoo list` for where)."
        ),
    )
    zs = p.add_subparsers(dest="zoo_cmd", metavar="ACTION")
    ls = zs.add_parser("list", help="print the family: size, whether built, test accuracy")
    ls.add_argument("--paths", action="store_true", help="add the cache folder of each model")
    ls.set_defaults(func=run_list)
    b = zs.add_parser("build", help="build zoo models now (all by default); cached ones are reused")
    b.add_argument("names", nargs="*", metavar="NAME", help="zoo names (default: all, or --grid's)")
    b.add_argument(
        "--grid",
        choices=("default", "full"),
        help="the models of `efflab sweep --grid default` (what `make demo` sweeps) or of the full grid",
    )
    b.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    b.set_defaults(func=run_build)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _params(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:.1f} M" if n >= 1e6 else f"{n / 1e3:.1f} k"


def run_list(args: argparse.Namespace) -> int:
    from efflab.zoo import describe

    rows = []
    for d in describe():
        acc = d["test_accuracy_fp32"]
        row = [
            d["name"],
            d["kind"],
            d["layers"] or "-",
            _params(d["params"]),
            "yes" if d["built"] else "no",
            f"{100 * acc:.1f} %" if acc is not None else "-",
        ]
        if args.paths:
            row.append(str(d["path"]))
        rows.append(row)
    headers = ["name", "kind", "layers", "params", "built", "accuracy (fp32)"]
    print(table(rows, [*headers, "path"] if args.paths else headers))
    return 0


def run_build(args: argparse.Namespace) -> int:
    from efflab.zoo import all_names, build_recipes, recipe
    from efflab.zoo.cache import read_meta

    if args.names and args.grid:
        print("efflab: error: give zoo names or --grid, not both", file=sys.stderr)
        return 2
    names = list(args.names or all_names())
    if args.grid:
        from efflab.sweep.spec import default_models, full_models

        grid = set(default_models() if args.grid == "default" else full_models())
        names = [n for n in all_names() if n in grid]
    wanted = [recipe(n) for n in names]
    t0 = time.perf_counter()
    folders = build_recipes(wanted, progress=not args.quiet)
    for r, folder in zip(wanted, folders):
        meta = read_meta(folder) or {}
        acc = meta.get("test_accuracy_fp32")
        acc_s = f"{100 * acc:.1f} %" if isinstance(acc, float) else "-"
        print(f"{r.name:<22} {acc_s:>7}  {folder}")
    for r in wanted:
        if r.kind == "causal-lm":
            _choose_prompt(r.name)
    print(f"{len(folders)} model(s) ready in {time.perf_counter() - t0:.1f} s")
    return 0


def _choose_prompt(name: str) -> None:
    """Choose a prompted LM's rule (k shots, calibration) on the built-in task now, with the default
    grid's settings (fp32 on the CPU, 128 tokens, the default protocol), so the sweep finds it cached
    instead of spending its first point's half-minute on it. Another precision, text length or task
    chooses its own on first use."""
    from efflab.config import DEFAULT_TASK, Config, MethodSettings
    from efflab.models.registry import resolve_model
    from efflab.models.runners import load_runner
    from efflab.tasks import get_task
    from efflab.tasks.prompting import attach

    t0 = time.perf_counter()
    c = Config(model=name)
    runner = load_runner(resolve_model(name, progress=False), c.precision, c.device, c.cast)
    try:
        protocol = MethodSettings().prompt_protocol()
        p = attach(runner, get_task(DEFAULT_TASK), protocol, c.seq_len)  # type: ignore[arg-type]
    finally:
        runner.close()
    rule = p.selection.describe() if p.selection is not None else f"k={p.shots}"
    print(f"{name:<22} prompts on {DEFAULT_TASK}: {rule} ({time.perf_counter() - t0:.1f} s)")
