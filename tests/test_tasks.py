"""Tasks: the built-in reviews task, user CSV tasks, and a clear error for every bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from efflab.errors import TaskError
from efflab.tasks import Task, get_task, task_from_frames


def _write(tmp_path: Path, rows: list[dict[str, object]], name: str = "mine.csv") -> Path:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _rows(n: int = 20) -> list[dict[str, object]]:
    return [{"text": f"review number {i}", "label": "pos" if i % 2 else "neg"} for i in range(n)]


def test_reviews_task_is_4000_train_1000_test_binary_sentiment() -> None:
    task = get_task("reviews")
    assert task.name == "reviews"
    assert (len(task.train), len(task.test)) == (4000, 1000)
    assert task.label_names == ("other", "great")
    assert task.n_classes == 2
    for df in (task.train, task.test):
        assert list(df.columns) == ["text", "label"]
        assert set(df["label"]) == {0, 1}
        assert all(isinstance(t, str) for t in df["text"].head(50))
    # 5-star reviews are the majority in both splits
    assert task.train["label"].mean() == pytest.approx(2600 / 4000)
    assert task.test["label"].mean() == pytest.approx(658 / 1000)
    assert len(task.content_hash) == 16
    int(task.content_hash, 16)


def test_reviews_task_is_cached_and_name_is_forgiving() -> None:
    assert get_task("reviews") is get_task(" Reviews ")


def test_csv_with_split_column_keeps_that_split(tmp_path: Path) -> None:
    rows = _rows(10)
    for i, r in enumerate(rows):
        r["split"] = "test" if i >= 8 else "train"
    task = get_task(str(_write(tmp_path, rows)))
    assert task.name == "mine"
    assert (len(task.train), len(task.test)) == (8, 2)
    assert task.label_names == ("neg", "pos")
    assert task.train["text"].iloc[0] == "review number 0"
    assert task.test["text"].tolist() == ["review number 8", "review number 9"]
    assert task.test["label"].tolist() == [0, 1]


def test_csv_without_split_column_gets_seeded_stratified_split(tmp_path: Path) -> None:
    path = str(_write(tmp_path, _rows(40)))
    a = get_task(path, test_fraction=0.25, seed=1)
    b = get_task(path, test_fraction=0.25, seed=1)
    c = get_task(path, test_fraction=0.25, seed=2)
    assert (len(a.train), len(a.test)) == (30, 10)
    assert a.test["label"].value_counts().to_dict() == {0: 5, 1: 5}
    assert a.test["text"].tolist() == b.test["text"].tolist()
    assert a.test["text"].tolist() != c.test["text"].tolist()
    assert a.content_hash != c.content_hash


def test_named_columns_and_numeric_labels(tmp_path: Path) -> None:
    rows = [{"body": f"t{i}", "stars": 1 + i % 3} for i in range(30)]
    task = get_task(str(_write(tmp_path, rows)), text_column="body", label_column="stars")
    assert task.label_names == ("1", "2", "3")
    assert (task.text_column, task.label_column) == ("body", "stars")
    assert sorted(task.train["label"].unique()) == [0, 1, 2]


def test_text_that_reads_like_na_stays_text(tmp_path: Path) -> None:
    rows = _rows(10)
    rows[0]["text"] = "NA"
    task = get_task(str(_write(tmp_path, rows)), test_fraction=0.2)
    assert "NA" in set(task.train["text"]) | set(task.test["text"])


def test_missing_text_column_is_named_with_a_suggestion(tmp_path: Path) -> None:
    rows = [{"txt": "a", "label": "x"}, {"txt": "b", "label": "y"}]
    with pytest.raises(TaskError, match=r"no column 'text'.*Did you mean 'txt'\?") as e:
        get_task(str(_write(tmp_path, rows)))
    assert "\n" not in str(e.value)


def test_missing_label_column_is_named(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="no column 'sentiment'"):
        get_task(str(_write(tmp_path, _rows())), label_column="sentiment")


def test_label_column_with_one_class_is_refused(tmp_path: Path) -> None:
    rows = [{"text": f"t{i}", "label": "pos"} for i in range(10)]
    with pytest.raises(TaskError, match="label column 'label' has only one class"):
        get_task(str(_write(tmp_path, rows)))


def test_train_split_with_one_class_is_refused(tmp_path: Path) -> None:
    rows = [
        {"text": f"t{i}", "label": "a" if i < 8 else "b", "split": "train" if i < 8 else "test"}
        for i in range(10)
    ]
    with pytest.raises(TaskError, match="train split .* has only the class 'a'"):
        get_task(str(_write(tmp_path, rows)))


def test_empty_test_split_is_refused(tmp_path: Path) -> None:
    rows = [{**r, "split": "train"} for r in _rows(6)]
    with pytest.raises(TaskError, match="empty test split"):
        get_task(str(_write(tmp_path, rows)))


def test_empty_split_from_frames_is_refused() -> None:
    train = pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"]})
    with pytest.raises(TaskError, match="empty test split"):
        task_from_frames("t", train, train.iloc[:0])


def test_empty_label_value_is_refused(tmp_path: Path) -> None:
    rows = _rows(10)
    rows[3]["label"] = ""
    with pytest.raises(TaskError, match="1 empty value"):
        get_task(str(_write(tmp_path, rows)))


def test_bad_split_value_is_named(tmp_path: Path) -> None:
    rows = [
        {**r, "split": "valid" if i == 0 else "train" if i < 15 else "test"} for i, r in enumerate(_rows())
    ]
    with pytest.raises(TaskError, match="column 'split' has value 'valid'"):
        get_task(str(_write(tmp_path, rows)))


def test_unknown_name_suggests_the_builtin() -> None:
    with pytest.raises(TaskError, match=r"unknown task 'review'.*Did you mean 'reviews'\?"):
        get_task("review")


def test_a_folder_is_not_a_task(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="is a folder"):
        get_task(str(tmp_path))


def test_test_fraction_must_be_a_fraction(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="test_fraction"):
        get_task(str(_write(tmp_path, _rows())), test_fraction=1.5)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(TaskError, match="is empty"):
        get_task(str(path))


def test_task_validates_normalised_frames() -> None:
    good = pd.DataFrame({"text": ["a", "b"], "label": [0, 1]})
    Task("t", "text", "label", good, good, ("x", "y"))
    bad = pd.DataFrame({"text": ["a", "b"], "label": [0, 2]})
    with pytest.raises(TaskError, match=r"labels must be integers 0\.\.1"):
        Task("t", "text", "label", good, bad, ("x", "y"))
    with pytest.raises(TaskError, match="needs columns 'text' and 'label'"):
        Task("t", "text", "label", good.rename(columns={"text": "body"}), good, ("x", "y"))
