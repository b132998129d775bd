"""Label words: the word a prompted LM answers with per label — the built-in task's own, a CSV task's
from its ``NAME.labels.json`` sidecar, and a clear one-line error for every bad declaration."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from efflab.errors import TaskError
from efflab.tasks import get_task, task_from_frames


def _csv(tmp_path: Path, words: object | None = None, raw: str | None = None) -> Path:
    rows = [{"text": f"review {i}", "label": "pos" if i % 2 else "neg", "split": "test" if i >= 8 else "train"}
            for i in range(12)]  # fmt: skip
    path = tmp_path / "mine.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    side = tmp_path / "mine.labels.json"
    if raw is not None:
        side.write_text(raw)
    elif words is not None:
        side.write_text(json.dumps(words))
    return path


def test_the_reviews_task_declares_sentiment_words() -> None:
    task = get_task("reviews")
    assert task.label_names == ("other", "great")
    assert task.label_words == ("negative", "positive") == task.prompt_words
    assert task.majority_label == 1  # 2,600 of 4,000 train reviews are 5-star


def test_without_words_the_label_values_are_the_words(tmp_path: Path) -> None:
    task = get_task(str(_csv(tmp_path)))
    assert task.label_words is None and task.prompt_words == ("neg", "pos")


def test_a_csv_task_reads_its_words_from_the_sidecar_and_rereads_it_when_it_changes(tmp_path: Path) -> None:
    path = _csv(tmp_path, {"pos": "positive", "neg": "negative"})
    task = get_task(str(path))
    assert task.label_names == ("neg", "pos") and task.prompt_words == ("negative", "positive")
    (tmp_path / "mine.labels.json").write_text(json.dumps({"pos": "good", "neg": "bad"}))
    assert get_task(str(path)).prompt_words == ("bad", "good")


@pytest.mark.parametrize(
    ("words", "raw", "match"),
    [
        ({"pos": "positive"}, None, r"label 'neg' has no label word; give every label of \['neg', 'pos'\] a word"),
        ({"pos": "positive", "neg": "negative", "meh": "so-so"}, None,
         r"label words are given for 'meh', which is not a label"),
        ({"pos": "good", "neg": "good"}, None, r"the label word 'good' is given to two labels"),
        ({"pos": "very good", "neg": "bad"}, None, r"must be one word without spaces, got 'very good'"),
        (None, "{not json", r"cannot read the label words .*mine.labels.json.*write them as JSON"),
        (None, '["positive", "negative"]', r"must be one JSON object of label: word"),
    ],
)  # fmt: skip
def test_bad_label_words_are_one_line_naming_the_value(
    tmp_path: Path, words: object, raw: str | None, match: str
) -> None:
    with pytest.raises(TaskError, match=match) as e:
        get_task(str(_csv(tmp_path, words, raw)))
    assert "\n" not in str(e.value) and "mine" in str(e.value)


def test_task_from_frames_takes_words_per_label() -> None:
    df = pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["pos", "neg", "pos", "neg"]})
    task = task_from_frames("t", df.iloc[:2], df.iloc[2:], label_words={"pos": "positive", "neg": "negative"})
    assert task.label_names == ("neg", "pos") and task.label_words == ("negative", "positive")
