"""``efflab card MODEL``: the model's energy facts as a Hugging Face model card section."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from efflab.options import add_assess_arguments
from efflab.paths import default_store

_DESCRIPTION = (
    "Write a Markdown section for a Hugging Face model card (README.md) with the model's measured energy: "
    "its efficiency label (an SVG file beside the card), every measured configuration with energy per 1000 "
    "queries and its 95 % re-run interval, per 1M tokens for encoders (padded tokens count), CO2e, whether "
    "the energy was measured or modelled and by what, the hardware, the accuracy with its 95 % interval, and "
    "the recommended configuration (from the same assessment as `efflab recommend`). The same facts go into "
    "the card's YAML metadata under its own top-level key `efflab`. With --update, only efflab's section "
    "(between its <!-- efflab:card:start/end --> markers; appended when there are none) and the `efflab` "
    "metadata key are replaced; the rest of the card stays byte for byte. Files are written to a temporary "
    "file and renamed, so a failure leaves the card as it was. See docs/card.md."
)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "card",
        help="write the model's energy facts into a Hugging Face model card (README.md)",
        description=_DESCRIPTION,
    )
    p.add_argument("model", metavar="MODEL", help="a model name as stored (see `efflab results list`)")
    p.add_argument("--store", type=Path, default=None, help=f"results store (default {default_store()})")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write a new card (metadata, a title and the section) to this README.md, and the label beside it",
    )
    where.add_argument(
        "--update",
        type=Path,
        default=None,
        help="merge the section and the `efflab` metadata into this existing README.md (nothing else changes), "
        "and write the label beside it",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="let --out and --boamps overwrite an existing file (never a store)",
    )
    p.add_argument(
        "--boamps",
        type=Path,
        default=None,
        help="also write the BoAmps reports of the model's eligible points to this JSON file (an array, one "
        "report per point; see `efflab results export --format boamps`)",
    )
    add_assess_arguments(p, names=("accuracy_tolerance",))
    # The same option as `efflab recommend --cohort` (AssessInputs parses it); here its default is every
    # cohort the model has points in, not one.
    p.add_argument(
        "--cohort",
        dest="cohort",
        default=None,
        help="only this cohort (TASK @ HARDWARE, as `efflab recommend` prints it); default: every cohort the "
        "model has points in, one section each",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from efflab.analysis import AssessInputs
    from efflab.label import label_svg
    from efflab.publish.card import (
        card_facts,
        card_metadata,
        card_section,
        check_card_path,
        merge_card,
        new_card,
        read_card,
        write_files,
    )
    from efflab.store import load_results

    target: Path | None = args.update or args.out
    flag = "--update" if args.update is not None else "--out"
    if target is not None:
        check_card_path(target, flag, must_exist=args.update is not None)
        if args.out is not None and target.exists() and not args.force:
            from efflab.errors import ConfigError

            msg = (
                f"--out {str(target)!r} already exists; pass --update {target} to merge the efflab section into "
                "it (keeping the rest), or --force to replace it"
            )
            raise ConfigError(msg)
    if args.boamps is not None:
        from efflab.cli.results import check_export_target

        check_export_target(args.boamps, Path(args.store or default_store()), force=args.force)
    existing = read_card(args.update, flag) if args.update is not None else None
    df = load_results(args.store or default_store())
    facts = card_facts(df, args.model, AssessInputs.from_mapping(vars(args)))
    section = card_section(facts)
    metadata = card_metadata(facts)
    if existing is not None:
        text = merge_card(existing, section, metadata, where=f"--update {str(target)!r}")
    else:
        text = new_card(section, metadata, args.model)
    files: list[tuple[Path, bytes, str]] = []
    if args.boamps is not None:
        import json

        from efflab.publish.boamps import boamps_reports

        reports, _ = boamps_reports(
            df[df["cohort"].isin([c.cohort for c in facts.cohorts])], model=args.model
        )
        files.append(
            (args.boamps, (json.dumps(reports, indent=2, ensure_ascii=False) + "\n").encode(), "--boamps")
        )
    if target is None:
        if files:
            write_files(files)
        sys.stdout.write(text)
        labels = [c.label_file for c in facts.cohorts if c.label_file]
        if labels:
            print(
                f"efflab: the card links {', '.join(labels)}; pass --out or --update to write the label beside "
                "the card",
                file=sys.stderr,
            )
        return 0
    folder = target.parent if str(target.parent) else Path(".")
    files.insert(0, (target, text.encode("utf-8"), flag))  # renamed last, after the label it links
    for c in facts.cohorts:
        data = c.label_data
        if c.label_file and data is not None:
            files.append((folder / c.label_file, label_svg(data).encode(), "the label"))
    write_files(files)
    written = ", ".join(str(p) for p, _, _ in files)
    print(f"efflab: wrote {written}", file=sys.stderr)
    return 0
