"""The model zoo: recipe keying, tiny builds that load, cache safety, bad names; the real family (slow)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

import efflab.zoo as zoo
from efflab.errors import ModelError
from efflab.zoo import build as zoo_build
from efflab.zoo import cache
from efflab.zoo.recipes import recipe_ingredients

# The cache the user's environment points at (the autouse fixture below hides it from other tests).
_USER_CACHE = os.environ.get("EFFLAB_CACHE")

# A recipe small enough to build in seconds: 48 training texts, 16 test texts, 4 steps, 32 tokens.
TINY: dict[str, Any] = {"n_train": 48, "n_test": 16, "steps": 4, "train_batch_size": 8, "seq_len": 32}


def _tiny(name: str = "minilm-l1", **more: Any) -> zoo.Recipe:
    return zoo.recipe(name, **{**TINY, **more})


def _tiny_sklearn() -> zoo.Recipe:
    return zoo.recipe("tfidf-logreg", n_train=200, n_test=50, min_df=1)


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding a tiny transformer and a tiny TF-IDF entry, built once for the module."""
    root = tmp_path_factory.mktemp("template") / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EFFLAB_CACHE", str(root))
        zoo.build_recipes([_tiny(), _tiny_sklearn()], progress=False)
    return root


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EFFLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def prebuilt(_template: Path, _own_cache: Path) -> Path:
    """This test's cache, starting as a copy of the module's template (tiny L1 + tiny TF-IDF built)."""
    shutil.copytree(_template, _own_cache)
    return _own_cache


def test_names_are_the_family_smallest_first() -> None:
    names = zoo.names()
    assert names == [
        "tfidf-logreg",
        "minilm-l1",
        "minilm-l2",
        "minilm-l2-distilled",
        "minilm-l3",
        "minilm-l4",
        "minilm-l6",
    ]
    rows = zoo.describe()
    hf_params = [r["params"] for r in rows if r["kind"] == "hf"]
    assert hf_params == sorted(hf_params)
    assert not any(r["built"] for r in rows)
    assert zoo.is_zoo_name(" MiniLM-L4 ") and not zoo.is_zoo_name("minilm-l5")


def test_recipe_hash_keys_on_steps_seed_teacher_and_is_stable() -> None:
    base = zoo.recipe("minilm-l2")
    h = zoo.hash_recipe(base)
    assert zoo.recipe_hash("minilm-l2") == h == zoo.hash_recipe(zoo.recipe("minilm-l2"))
    assert len(h) == 12
    assert zoo.hash_recipe(base.replace(steps=base.steps + 1)) != h
    assert zoo.hash_recipe(base.replace(seed=1)) != h
    assert zoo.hash_recipe(base.replace(seq_len=64)) != h
    # Renamed fields (seq_len, train_batch_size) hash under their first names: built models keep their keys.
    hashed = recipe_ingredients(base)["recipe"]
    assert hashed["max_length"] == base.seq_len and hashed["batch_size"] == base.train_batch_size
    assert "seq_len" not in hashed and "train_batch_size" not in hashed
    student = zoo.recipe("minilm-l2-distilled")
    assert zoo.hash_recipe(student) != h
    other_teacher = student.replace(teacher=zoo.recipe("minilm-l6", steps=10))
    assert zoo.hash_recipe(other_teacher) != zoo.hash_recipe(student)
    assert len({zoo.recipe_hash(n) for n in zoo.names()}) == len(zoo.names())


def test_recipe_hash_keys_on_library_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    from efflab.zoo import recipes

    h = zoo.recipe_hash("minilm-l1")
    real = recipes._version
    monkeypatch.setattr(recipes, "_version", lambda d: "0.0-other" if d == "torch" else real(d))
    assert zoo.recipe_hash("minilm-l1") != h
    assert zoo.recipe_hash("tfidf-logreg") == zoo.hash_recipe(zoo.FAMILY["tfidf-logreg"])


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(ModelError, match=r"unknown zoo model 'minilm-l5'.* Did you mean 'minilm-l[36]'\?"):
        zoo.resolve("minilm-l5", progress=False)
    with pytest.raises(ModelError, match="Did you mean 'tfidf-logreg'"):
        zoo.recipe_hash("tfidf-logrec")
    with pytest.raises(ModelError, match="unknown recipe field 'step'.*'steps'"):
        zoo.recipe("minilm-l1", step=3)
    with pytest.raises(ModelError, match="layers must be 1..6"):
        zoo.recipe("minilm-l1", layers=7)


def test_tiny_transformer_build_is_a_loadable_hf_folder(_template: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    r = _tiny()
    folder = _template / "zoo" / f"minilm-l1-{zoo.hash_recipe(r)}"
    assert cache.problem(folder, r.name, zoo.hash_recipe(r)) is None
    meta = json.loads((folder / "efflab_model.json").read_text())
    assert meta["name"] == "minilm-l1" and meta["kind"] == "hf" and meta["task"] == "reviews"
    assert meta["recipe_hash"] == zoo.hash_recipe(r)
    assert meta["label_names"] == ["other", "great"]
    assert meta["n_train"] == 48 and meta["n_test"] == 16 and meta["layers"] == 1
    assert 0.0 <= meta["test_accuracy_fp32"] <= 1.0
    assert meta["spot_check"]["max_abs_logit_diff"] < 1e-3
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    assert type(model).__name__ == "BertForSequenceClassification"
    assert model.config.num_hidden_layers == 1
    assert model.config.id2label == {0: "other", 1: "great"}
    assert tok.model_max_length == 32
    assert meta["params"] == sum(p.numel() for p in model.parameters())
    enc = tok(["great stuff", "awful, never again"], padding=True, truncation=True, return_tensors="pt")
    assert model(**enc).logits.shape == (2, 2)


def test_tiny_sklearn_build_is_a_pipeline_of_strings(_template: Path) -> None:
    import joblib

    r = _tiny_sklearn()
    folder = _template / "zoo" / f"tfidf-logreg-{zoo.hash_recipe(r)}"
    meta = json.loads((folder / "efflab_model.json").read_text())
    assert meta["kind"] == "sklearn" and meta["precisions"] == ["fp32"]
    pipe = joblib.load(folder / "pipeline.joblib")
    assert pipe.predict(["I love it", "stale and bland"]).tolist() in ([0, 0], [0, 1], [1, 0], [1, 1])
    assert pipe.predict_proba(["fine"]).shape == (1, 2)


def test_distilled_build_builds_its_teacher_first() -> None:
    teacher = _tiny("minilm-l2")
    student = _tiny("minilm-l2-distilled", teacher=teacher)
    (folder,) = zoo.build_recipes([student], progress=False)
    t_folder = cache.entry_dir("minilm-l2", zoo.hash_recipe(teacher))
    assert cache.problem(t_folder, "minilm-l2", zoo.hash_recipe(teacher)) is None
    meta = json.loads((folder / "efflab_model.json").read_text())
    assert meta["teacher"] == {"name": "minilm-l2", "recipe_hash": zoo.hash_recipe(teacher)}
    assert meta["recipe"]["kd_alpha"] > 0


def test_a_built_entry_is_reused_not_rebuilt(prebuilt: Path) -> None:
    r = _tiny()
    folder = cache.entry_dir(r.name, zoo.hash_recipe(r))
    stamp = (folder / "efflab_model.json").stat().st_mtime_ns
    (again,) = zoo.build_recipes([r], progress=False)
    assert again == folder
    assert (folder / "efflab_model.json").stat().st_mtime_ns == stamp


def test_interrupted_build_leaves_no_complete_looking_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    (kept,) = zoo.build_recipes([_tiny_sklearn()], progress=False)
    before = (kept / "efflab_model.json").read_bytes()

    def boom(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-build, after the weights were saved

    monkeypatch.setattr(zoo_build, "_save_tokenizer", boom)
    r = _tiny()
    with pytest.raises(KeyboardInterrupt):
        zoo.build_recipes([r], progress=False)
    root = cache.zoo_dir()
    assert not cache.entry_dir(r.name, zoo.hash_recipe(r)).exists()
    assert [p.name for p in root.iterdir()] == [kept.name]
    assert (kept / "efflab_model.json").read_bytes() == before
    monkeypatch.undo()
    monkeypatch.setenv("EFFLAB_CACHE", str(root.parent))
    (folder,) = zoo.build_recipes([r], progress=False)
    assert cache.problem(folder, r.name, zoo.hash_recipe(r)) is None


@pytest.mark.parametrize("damage", ["garbage json", "no json", "wrong hash", "no weights", "a file"])
def test_corrupt_entry_is_rebuilt_with_a_message(
    damage: str, prebuilt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = cache.entry_dir("tfidf-logreg", zoo.hash_recipe(_tiny_sklearn()))
    before = (kept / "efflab_model.json").read_bytes()
    r = _tiny()
    folder = cache.entry_dir(r.name, zoo.hash_recipe(r))
    meta_path = folder / "efflab_model.json"
    if damage == "garbage json":
        meta_path.write_text("{not json")
    elif damage == "no json":
        meta_path.unlink()
    elif damage == "wrong hash":
        meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "recipe_hash": "0" * 12}))
    elif damage == "no weights":
        (folder / "model.safetensors").unlink()
    else:
        shutil.rmtree(folder)
        folder.write_text("not a folder")
    capsys.readouterr()
    (again,) = zoo.build_recipes([r], progress=False)
    err = capsys.readouterr().err
    assert again == folder
    assert "rebuilding corrupt cache entry" in err and str(folder) in err
    assert len([line for line in err.splitlines() if "rebuilding" in line]) == 1
    assert cache.problem(folder, r.name, zoo.hash_recipe(r)) is None
    assert (kept / "efflab_model.json").read_bytes() == before


def test_abandoned_temp_folders_are_swept() -> None:
    dead = 4_000_000  # above the default pid_max: no such process
    root = cache.zoo_dir()
    stale = root / f".tmp-minilm-l1-abc-pid{dead}-x1"
    stale.mkdir(parents=True)
    (stale / "config.json").write_text("{}")
    zoo.build_recipes([_tiny_sklearn()], progress=False)
    assert not stale.exists()
    assert not [p for p in root.iterdir() if p.name.startswith(".tmp-")]


def test_cli_zoo_list_and_bad_name(capsys: pytest.CaptureFixture[str]) -> None:
    from efflab.cli import main

    assert main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    for n in zoo.names():
        assert n in out
    assert "accuracy" in out
    assert main(["zoo", "build", "minilm-l5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("efflab: error: unknown zoo model 'minilm-l5'") and "\n" not in err


@pytest.mark.slow
def test_real_family_meets_its_accuracy_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Builds the real family once (minutes from nothing; cached in the user's cache afterwards)."""
    if _USER_CACHE:
        monkeypatch.setenv("EFFLAB_CACHE", _USER_CACHE)
    else:
        monkeypatch.delenv("EFFLAB_CACHE")
    folders = zoo.build_all(progress=False)
    metas = {m["name"]: m for m in (json.loads((f / "efflab_model.json").read_text()) for f in folders)}
    # The task-specific family; the general-purpose LLM (zoo.all_names()) is scored by prompting instead.
    assert set(zoo.names()) <= set(metas)
    metas = {n: metas[n] for n in zoo.names()}
    acc = {n: m["test_accuracy_fp32"] for n, m in metas.items()}
    assert acc["minilm-l6"] >= 0.80
    assert acc["minilm-l2-distilled"] >= acc["minilm-l2"]
    assert acc["tfidf-logreg"] >= 0.75
    assert all(m["n_test"] == 1000 and m["n_train"] == 4000 for m in metas.values())
    assert all(r["built"] for r in zoo.describe())
