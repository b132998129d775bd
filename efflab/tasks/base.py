"""The :class:`Task` record and :func:`get_task`, which turns a name or a CSV path into one."""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from efflab.errors import TaskError, closest
from efflab.paths import package_data

# Built-in tasks, by name. "reviews": Amazon fine-food reviews from R's modeldata (MIT), labelled
# great (a 5-star score) or other; see efflab/data/ATTRIBUTION.md.
BUILTIN_TASKS: tuple[str, ...] = ("reviews",)
_REVIEWS_FILE = "reviews.csv"
# Label order of the built-in task: index 1 is the positive class.
_REVIEWS_LABELS: tuple[str, ...] = ("other", "great")
_SPLITS = ("train", "test")


@dataclass(frozen=True, eq=False)
class Task:
    """A labelled text data set with a train and a test split.

    Build one with :func:`get_task` or :func:`task_from_frames`, which normalise raw frames; the
    constructor only validates the normalised form. Treat the frames as read-only: built-in tasks
    are shared between callers in one process.

    Attributes:
        name: the task's name (``reviews``, or a CSV file's stem).
        text_column: the column the text came from in the source data.
        label_column: the column the labels came from in the source data.
        train: the training split, columns ``text`` (str) and ``label`` (int ``0..k-1``).
        test: the test split, same columns.
        label_names: the class names; ``label == i`` means ``label_names[i]``.

    Raises:
        TaskError: a split is empty or not normalised, or there are fewer than two classes.
    """

    name: str
    text_column: str
    label_column: str
    train: pd.DataFrame
    test: pd.DataFrame
    label_names: tuple[str, ...]

    def __post_init__(self) -> None:
        k = len(self.label_names)
        if k < 2:
            msg = (
                f"task {self.name!r}: label column {self.label_column!r} has only one class "
                f"{list(self.label_names)}; a task needs at least two"
            )
            raise TaskError(msg)
        for split, df in (("train", self.train), ("test", self.test)):
            if not isinstance(df, pd.DataFrame) or not {"text", "label"} <= set(df.columns):
                msg = (
                    f"task {self.name!r}: the {split} split needs columns 'text' and 'label'; "
                    "build tasks with get_task() or task_from_frames()"
                )
                raise TaskError(msg)
            if len(df) == 0:
                msg = f"task {self.name!r} has an empty {split} split; give it at least one row"
                raise TaskError(msg)
            labels = df["label"]
            if not pd.api.types.is_integer_dtype(labels) or labels.min() < 0 or labels.max() >= k:
                msg = (
                    f"task {self.name!r}: {split} labels must be integers 0..{k - 1}; "
                    "build tasks with get_task() or task_from_frames()"
                )
                raise TaskError(msg)
        if self.train["label"].nunique() < 2:
            only = self.label_names[int(self.train["label"].iloc[0])]
            msg = (
                f"task {self.name!r}: the train split of label column {self.label_column!r} has only "
                f"the class {only!r}; a task needs at least two classes to train on"
            )
            raise TaskError(msg)

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.label_names)

    @functools.cached_property
    def content_hash(self) -> str:
        """Short sha256 (16 hex digits) of the label names and both splits' texts and labels."""
        h = hashlib.sha256()
        h.update(json.dumps(list(self.label_names)).encode())
        for split, df in (("train", self.train), ("test", self.test)):
            h.update(f"\x01{split}:{len(df)}\x01".encode())
            h.update("\x00".join(df["text"].tolist()).encode("utf-8", "surrogatepass"))
            h.update(np.ascontiguousarray(df["label"].to_numpy(dtype=np.int64)).tobytes())
        return h.hexdigest()[:16]


def _label_name(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def task_from_frames(
    name: str,
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    text_column: str = "text",
    label_column: str = "label",
    label_names: tuple[str, ...] | None = None,
) -> Task:
    """Normalise two raw frames into a :class:`Task`.

    Labels are mapped to ``0..k-1`` in the order of ``label_names``; without it, in sorted order of
    the values found in both splits (numerically when the column is numeric). Missing texts become
    empty strings.

    Raises:
        TaskError: a column is missing, a label is missing or not in ``label_names``, a split is
            empty, or there is only one class.
    """
    for split, df in (("train", train), ("test", test)):
        missing = [c for c in (text_column, label_column) if c not in df.columns]
        if missing:
            have = ", ".join(repr(str(c)) for c in df.columns) or "none"
            hint = closest(missing[0], [str(c) for c in df.columns])
            msg = (
                f"task {name!r}: the {split} data has no column {missing[0]!r} (columns: {have}).{hint} "
                "Rename the CSV's columns to 'text' and 'label' (the names the CLI reads), or pass "
                "text_column= / label_column= to efflab.tasks.get_task"
            )
            raise TaskError(msg)
    raw = {"train": train[label_column], "test": test[label_column]}
    for split, col in raw.items():
        bad = col.isna() | (col.astype(str).str.strip() == "")
        if bad.any():
            msg = (
                f"task {name!r}: label column {label_column!r} has {int(bad.sum())} empty value(s) in the "
                f"{split} data; fill or drop those rows"
            )
            raise TaskError(msg)
    both = pd.concat([raw["train"], raw["test"]], ignore_index=True)
    if label_names is None:
        values = both.unique().tolist()
        if pd.api.types.is_numeric_dtype(both):
            values.sort()
        else:
            values = sorted({str(v).strip() for v in values})
        names = tuple(dict.fromkeys(_label_name(v) for v in values))
    else:
        names = tuple(label_names)
    index = {n: i for i, n in enumerate(names)}
    frames = {}
    for split, df in (("train", train), ("test", test)):
        keys = raw[split].map(lambda v: _label_name(v).strip() if isinstance(v, str) else _label_name(v))
        unknown = sorted(set(keys) - set(index))
        if unknown:
            msg = (
                f"task {name!r}: label column {label_column!r} has value {unknown[0]!r} that is not one of "
                f"{list(names)}"
            )
            raise TaskError(msg)
        text = df[text_column].where(df[text_column].notna(), "").astype(str)
        frames[split] = pd.DataFrame(
            {"text": text.to_numpy(dtype=object), "label": keys.map(index).to_numpy(dtype=np.int64)}
        )
    return Task(name, text_column, label_column, frames["train"], frames["test"], names)


def _stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of test rows: ``round(n_c * test_fraction)`` rows of each class, seeded."""
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(labels), dtype=bool)
    for value in np.unique(labels):
        idx = np.flatnonzero(labels == value)
        n_test = min(len(idx) - 1, math.floor(len(idx) * test_fraction + 0.5)) if len(idx) > 1 else 0
        is_test[rng.permutation(idx)[:n_test]] = True
    return is_test


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        # keep_default_na=False: a review that says "NA" or "null" is text, not a missing value.
        return pd.read_csv(path, keep_default_na=False)
    except pd.errors.EmptyDataError as e:
        msg = f"task file {str(path)!r} is empty; give it a header row and data rows"
        raise TaskError(msg) from e
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        msg = f"cannot read task file {str(path)!r} as CSV ({reason}); save it as UTF-8 CSV with a header row"
        raise TaskError(msg) from e


def _csv_task(path: Path, text_column: str, label_column: str, test_fraction: float, seed: int) -> Task:
    if not 0.0 < test_fraction < 1.0:
        msg = f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction!r}"
        raise TaskError(msg)
    df = _read_csv(path)
    name = path.stem
    for col in (text_column, label_column):
        if col not in df.columns:
            have = ", ".join(repr(str(c)) for c in df.columns) or "none"
            msg = (
                f"task file {str(path)!r} has no column {col!r} (columns: {have})."
                f"{closest(col, [str(c) for c in df.columns])} Rename the CSV's columns to 'text' and "
                "'label' (the names the CLI reads), or pass text_column= / label_column= to efflab.tasks.get_task"
            )
            raise TaskError(msg)
    if "split" in df.columns and "split" not in (text_column, label_column):
        split = df["split"].astype(str).str.strip().str.lower()
        odd = sorted(set(split) - set(_SPLITS))
        if odd:
            msg = (
                f"task file {str(path)!r}: column 'split' has value {odd[0]!r}; use 'train' or 'test' "
                "(or drop the column for a seeded random split)"
            )
            raise TaskError(msg)
        is_test = (split == "test").to_numpy()
    else:
        labels = df[label_column].astype(str).to_numpy()
        is_test = _stratified_split(labels, test_fraction, seed)
    train = df.loc[~is_test].reset_index(drop=True)
    test = df.loc[is_test].reset_index(drop=True)
    for split, part in (("train", train), ("test", test)):
        if len(part) == 0:
            how = "its 'split' column" if "split" in df.columns else f"test_fraction={test_fraction}"
            msg = (
                f"task file {str(path)!r} gives an empty {split} split ({len(df)} rows, {how}); "
                "add rows or change the split"
            )
            raise TaskError(msg)
    return task_from_frames(name, train, test, text_column=text_column, label_column=label_column)


@functools.lru_cache(maxsize=4)
def _builtin(name: str) -> Task:
    path = package_data(_REVIEWS_FILE)
    if not path.is_file():
        msg = (
            f"the data of the built-in task {name!r} is missing ({path}); reinstall efflab or run "
            "`python data/make_reviews.py`"
        )
        raise TaskError(msg)
    df = _read_csv(path)
    train = df[df["split"] == "train"]
    test = df[df["split"] == "test"]
    return task_from_frames(name, train, test, label_names=_REVIEWS_LABELS)


@functools.lru_cache(maxsize=16)
def _cached_csv_task(
    path: str,
    _mtime_ns: int,
    _size: int,
    text_column: str,
    label_column: str,
    test_fraction: float,
    seed: int,
) -> Task:
    return _csv_task(Path(path), text_column, label_column, test_fraction, seed)


def get_task(
    spec: str,
    *,
    text_column: str = "text",
    label_column: str = "label",
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Task:
    """The task named ``spec``: a built-in name (``reviews``) or the path of a CSV file.

    A CSV with a ``split`` column (values ``train`` / ``test``) keeps that split; otherwise a seeded
    split stratified by label puts ``test_fraction`` of each class in the test split. The column
    arguments are ignored for built-in tasks. Results are cached in-process (a CSV is re-read when
    its size or modification time changes), so repeated calls are cheap.

    Raises:
        TaskError: unknown name, unreadable file, missing columns, an empty split, one class.
    """
    key = str(spec).strip()
    if key.lower() in BUILTIN_TASKS:
        return _builtin(key.lower())
    path = Path(key).expanduser()
    if path.is_file():
        st = path.stat()
        return _cached_csv_task(
            str(path.resolve()),
            st.st_mtime_ns,
            st.st_size,
            text_column,
            label_column,
            float(test_fraction),
            seed,
        )
    if path.is_dir():
        msg = f"task {key!r} is a folder; point --task at a CSV file or a built-in name ({', '.join(BUILTIN_TASKS)})"
        raise TaskError(msg)
    msg = (
        f"unknown task {key!r}: not a built-in task ({', '.join(BUILTIN_TASKS)}) nor an existing CSV file."
        f"{closest(key.lower(), list(BUILTIN_TASKS))}"
    )
    raise TaskError(msg)


def load_task(spec: str | None) -> Task | None:
    """The task named by ``spec`` (a name or CSV path, see :func:`get_task`), or None for cost only."""
    return None if spec is None else get_task(spec)
