"""The :class:`Task` record and :func:`get_task`, which turns a name or a CSV path into one.

Label words: a general-purpose (causal) LM is scored on a task by prompting (:mod:`efflab.tasks.prompting`),
and it answers best with natural words ("positive" / "negative"), not with the data's label values
("great" / "other", "1" / "0"). A task may declare one word per label (:attr:`Task.label_words`); the
built-in ``reviews`` task declares its own. A CSV task declares them in a sidecar JSON file beside it,
``<name>.labels.json`` for ``<name>.csv``, mapping each label value to its word::

    {"great": "positive", "other": "negative"}

Without words the label values themselves are used. Each word must be one token for the prompted model
(checked when it is scored, :class:`efflab.errors.ConfigError` otherwise).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Mapping
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
# The words a prompted LM answers with for those labels: "great" is a 5-star review, "other" any other
# score; the sentiment words are the natural ones (a calibrated threshold places the 4-star boundary).
_REVIEWS_WORDS: tuple[str, ...] = ("negative", "positive")
# Beside a CSV task NAME.csv: its label words, {"label value": "word"} (see the module docstring).
LABEL_WORDS_SUFFIX = ".labels.json"
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
        label_words: the word a prompted LM answers with for each class, in the order of
            ``label_names`` (None: the names themselves; see :attr:`prompt_words`).

    Raises:
        TaskError: a split is empty or not normalised, there are fewer than two classes, or the
            label words are not one distinct word per class.
    """

    name: str
    text_column: str
    label_column: str
    train: pd.DataFrame
    test: pd.DataFrame
    label_names: tuple[str, ...]
    label_words: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        k = len(self.label_names)
        if self.label_words is not None:
            _check_words(self.name, self.label_names, tuple(self.label_words))
            object.__setattr__(self, "label_words", tuple(self.label_words))
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

    @property
    def prompt_words(self) -> tuple[str, ...]:
        """The words a prompted LM answers with, one per class: :attr:`label_words` or the names."""
        return self.label_words if self.label_words is not None else self.label_names

    @property
    def majority_label(self) -> int:
        """The train split's most common class (ties: the lower index): what a majority-class
        baseline always answers."""
        return int(np.bincount(self.train["label"].to_numpy(), minlength=self.n_classes).argmax())

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


def _check_words(name: str, labels: tuple[str, ...], words: tuple[str, ...]) -> None:
    if len(words) != len(labels):
        msg = f"task {name!r}: {len(words)} label word(s) {list(words)} for the {len(labels)} labels {list(labels)}; give one word per label"
        raise TaskError(msg)
    for label, w in zip(labels, words, strict=True):
        if not isinstance(w, str) or not w.strip() or len(w.split()) != 1 or w != w.strip():
            msg = f"task {name!r}: the word of label {label!r} must be one word without spaces, got {w!r}; e.g. 'positive'"
            raise TaskError(msg)
    if len(set(words)) != len(words):
        dup = next(w for w in words if words.count(w) > 1)
        msg = f"task {name!r}: the label word {dup!r} is given to two labels; give each label its own word"
        raise TaskError(msg)


def _words_in_order(
    name: str, names: tuple[str, ...], label_words: Mapping[str, str] | None
) -> tuple[str, ...] | None:
    if label_words is None:
        return None
    if not isinstance(label_words, Mapping):
        msg = f"task {name!r}: label words must map each label to a word, e.g. {{'great': 'positive'}}, got {label_words!r}"[
            :300
        ]
        raise TaskError(msg)
    given = {str(k).strip(): v for k, v in label_words.items()}
    unknown = sorted(set(given) - set(names))
    if unknown:
        msg = f"task {name!r}: label words are given for {unknown[0]!r}, which is not a label ({list(names)}); name the labels as in the data"
        raise TaskError(msg)
    missing = [n for n in names if n not in given]
    if missing:
        msg = (
            f"task {name!r}: label {missing[0]!r} has no label word; give every label of {list(names)} a word"
        )
        raise TaskError(msg)
    return tuple(given[n] for n in names)


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
    label_words: Mapping[str, str] | None = None,
) -> Task:
    """Normalise two raw frames into a :class:`Task`.

    Labels are mapped to ``0..k-1`` in the order of ``label_names``; without it, in sorted order of
    the values found in both splits (numerically when the column is numeric). Missing texts become
    empty strings. ``label_words`` maps each label to the word a prompted LM answers with
    (``{"great": "positive", "other": "negative"}``; see the module docstring).

    Raises:
        TaskError: a column is missing, a label is missing or not in ``label_names``, a split is
            empty, there is only one class, or the label words miss a label or repeat a word.
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
    words = _words_in_order(name, names, label_words)
    return Task(name, text_column, label_column, frames["train"], frames["test"], names, words)


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


def label_words_file(path: Path) -> Path:
    """The sidecar file of a CSV task's label words: ``NAME.labels.json`` beside ``NAME.csv``."""
    return path.with_name(path.stem + LABEL_WORDS_SUFFIX)


def _read_label_words(path: Path) -> dict[str, str] | None:
    side = label_words_file(path)
    if not side.is_file():
        return None
    try:
        d = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        msg = f'cannot read the label words {str(side)!r} ({type(e).__name__}); write them as JSON, e.g. {{"great": "positive", "other": "negative"}}'
        raise TaskError(msg) from e
    if not isinstance(d, dict) or not all(isinstance(v, str) for v in d.values()):
        msg = f'the label words {str(side)!r} must be one JSON object of label: word, e.g. {{"great": "positive", "other": "negative"}}'
        raise TaskError(msg)
    return {str(k): v for k, v in d.items()}


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
    return task_from_frames(
        name,
        train,
        test,
        text_column=text_column,
        label_column=label_column,
        label_words=_read_label_words(path),
    )


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
    words = dict(zip(_REVIEWS_LABELS, _REVIEWS_WORDS, strict=True))
    return task_from_frames(name, train, test, label_names=_REVIEWS_LABELS, label_words=words)


@functools.lru_cache(maxsize=16)
def _cached_csv_task(
    path: str,
    _mtime_ns: int,
    _size: int,
    _words_stamp: tuple[int, int] | None,
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
    split stratified by label puts ``test_fraction`` of each class in the test split. A CSV's label
    words are read from ``NAME.labels.json`` beside it (see the module docstring). The column
    arguments are ignored for built-in tasks. Results are cached in-process (a CSV is re-read when
    its or its label words' size or modification time changes), so repeated calls are cheap.

    Raises:
        TaskError: unknown name, unreadable file, missing columns, an empty split, one class, bad
            label words.
    """
    key = str(spec).strip()
    if key.lower() in BUILTIN_TASKS:
        return _builtin(key.lower())
    path = Path(key).expanduser()
    if path.is_file():
        st = path.stat()
        side = label_words_file(path)
        ws = side.stat() if side.is_file() else None
        return _cached_csv_task(
            str(path.resolve()),
            st.st_mtime_ns,
            st.st_size,
            (ws.st_mtime_ns, ws.st_size) if ws is not None else None,
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
