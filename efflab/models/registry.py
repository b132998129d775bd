"""Resolve a model name to where its weights are: zoo name, local folder, hub id or tiny test model."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from efflab.errors import ModelError, closest
from efflab.models.tiny import TINY_LLAMA_RE, TINY_RE, minilm_folder, tiny_causal_lm, tiny_model

# The pretrained encoder as shipped (no task head): measurable for cost, not for accuracy.
PRETRAINED_ALIASES = ("all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2")
# Longer names are refused up front (a path this long cannot exist; a hub id is far shorter).
MAX_NAME_CHARS = 1024


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from.

    Attributes:
        name: the name the user gave.
        kind: ``hf`` (a transformers encoder), ``causal-lm`` (a transformers decoder-only language
            model, see :mod:`efflab.models.causal`) or ``sklearn`` (a joblib pipeline).
        location: a local folder, or a hub id when ``is_hub`` is True.
        model_id: a stable identity for caches and the results store (recipe hash, folder digest
            or hub id).
        is_hub: True when ``location`` is a hub id rather than a folder.
        gguf_file: the name of a GGUF file inside ``location`` to load (dequantised), or None.
    """

    name: str
    kind: str
    location: str
    model_id: str
    is_hub: bool = False
    gguf_file: str | None = None

    @property
    def path(self) -> Path | None:
        return None if self.is_hub else Path(self.location)


def _zoo_names() -> list[str]:
    try:
        import efflab.zoo as zoo
    except ModuleNotFoundError:
        return []
    return list(zoo.all_names())


def _folder_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.name}:{st.st_size}:{int(st.st_mtime)}".encode())
            if p.suffix == ".json" and st.st_size < 1_000_000:
                h.update(p.read_bytes())
    return h.hexdigest()[:12]


def source_from_folder(folder: Path, name: str | None = None) -> ModelSource:
    """A ModelSource for a local folder (Hugging Face layout, or an efflab zoo entry)."""
    folder = folder.expanduser().resolve()
    meta_path = folder / "efflab_model.json"
    try:
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            kind = str(meta.get("kind", "hf"))
            ident = f"{meta.get('name', folder.name)}@{meta.get('recipe_hash', _folder_digest(folder))}"
            return ModelSource(name or str(meta.get("name", folder.name)), kind, str(folder), ident)
        ggufs = sorted(p.name for p in folder.glob("*.gguf"))
        if not (folder / "config.json").exists() and len(ggufs) == 1:
            return source_from_gguf(folder / ggufs[0], name)
        if not (folder / "config.json").exists():
            msg = (
                f"model folder {str(folder)!r} has no config.json; point --model at a Hugging Face model "
                "folder (config.json + weights + tokenizer)"
            )
            raise ModelError(msg)
        return ModelSource(
            name or folder.name,
            _folder_kind(folder),
            str(folder),
            f"folder:{folder.name}@{_folder_digest(folder)}",
        )
    except PermissionError as e:
        msg = f"cannot read model folder {str(folder)!r}: {e.strerror}; check its permissions"
        raise ModelError(msg) from e
    except json.JSONDecodeError as e:
        msg = f"model folder {str(folder)!r} has a corrupt efflab_model.json ({e}); delete the folder to rebuild it"
        raise ModelError(msg) from e


def _folder_kind(folder: Path) -> str:
    """``causal-lm`` for a decoder-only language model's folder (by its config.json), else ``hf``."""
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return "hf"
    archs = cfg.get("architectures") or [] if isinstance(cfg, dict) else []
    return "causal-lm" if any(str(a).endswith("ForCausalLM") for a in archs) else "hf"


def source_from_gguf(path: Path, name: str | None = None) -> ModelSource:
    """A ModelSource for a GGUF file (loaded by transformers, dequantised to fp32)."""
    path = path.expanduser().resolve()
    st = path.stat()
    ident = f"gguf:{path.name}@{st.st_size}-{int(st.st_mtime)}"
    return ModelSource(name or path.stem, "causal-lm", str(path.parent), ident, gguf_file=path.name)


def known_names() -> list[str]:
    """Every name ``resolve_model`` accepts without a path: the zoo, the pretrained encoder, tiny models."""
    return [
        *_zoo_names(),
        PRETRAINED_ALIASES[0],
        "tiny-bert",
        "tiny-bert-l1",
        "tiny-bert-l2",
        "tiny-llama",
        "tiny-llama-l1",
        "tiny-llama-l2",
    ]


def resolve_model(name: str, *, progress: bool = True) -> ModelSource:
    """Resolve ``name`` to a :class:`ModelSource`, building zoo and tiny models on first use.

    Order: tiny test models (``tiny-bert[-lN]``, ``tiny-llama[-lN]``), zoo names, the pretrained ``all-minilm-l6-v2``,
    an existing folder, a hub id (``org/name``, loaded from the local HF cache or the hub if reachable).

    Raises:
        ModelError: the name is none of these, or the folder is unreadable.
    """
    raw = name.strip()
    low = raw.lower()
    if len(raw) > MAX_NAME_CHARS:
        msg = (
            f"model name is {len(raw)} characters long ({raw[:40]!r}…); pass a zoo name, a folder or an "
            f"org/name hub id of at most {MAX_NAME_CHARS} characters"
        )
        raise ModelError(msg)
    if TINY_RE.match(low):
        return source_from_folder(tiny_model(low), name=low)
    if TINY_LLAMA_RE.match(low):
        return source_from_folder(tiny_causal_lm(low), name=low)
    zoo_names = _zoo_names()
    if low in zoo_names:
        import efflab.zoo as zoo

        folder = zoo.resolve(low, progress=progress)
        return source_from_folder(Path(folder), name=low)
    if low in PRETRAINED_ALIASES:
        folder = minilm_folder()
        return ModelSource(PRETRAINED_ALIASES[0], "hf", str(folder), "pretrained:all-MiniLM-L6-v2@gt-0.1.0")
    p = Path(raw).expanduser()
    try:
        exists = p.exists()
    except OSError as e:  # e.g. a path component longer than the file system allows
        msg = f"model path {raw[:80]!r} cannot be read: {e.strerror}; pass a zoo name, a folder or a hub id"
        raise ModelError(msg) from e
    if exists:
        if p.is_file() and p.suffix.lower() == ".gguf":
            return source_from_gguf(p)
        if not p.is_dir():
            msg = (
                f"model path {raw!r} is a file; point --model at a Hugging Face model folder or a .gguf file"
            )
            raise ModelError(msg)
        return source_from_folder(p)
    if "/" in raw and not raw.startswith((".", "/", "~")) and raw.count("/") == 1:
        return ModelSource(raw, "hf", raw, f"hub:{raw}", is_hub=True)
    msg = (
        f"unknown model {raw!r}: not a zoo name, a folder or a hub id (org/name).{closest(low, known_names())} "
        "See `efflab zoo list`"
    )
    raise ModelError(msg)


def model_kind(name: str) -> str | None:
    """What ``name`` is — ``causal-lm`` (can generate), ``hf`` (an encoder classifier) or ``sklearn`` —
    decided without building, loading or downloading anything: tiny test models by their name, zoo
    names by their recipe, folders by ``efflab_model.json`` or ``config.json``'s architecture, GGUF
    files as causal LMs. None when only loading would tell (a hub id, an unreadable folder)."""
    raw = str(name).strip()
    low = raw.lower()
    if TINY_RE.match(low) or low in PRETRAINED_ALIASES:
        return "hf"
    if TINY_LLAMA_RE.match(low):
        return "causal-lm"
    try:
        import efflab.zoo as zoo
    except ModuleNotFoundError:
        zoo = None  # type: ignore[assignment]
    if zoo is not None and zoo.is_zoo_name(low):
        return str(zoo.recipe(low).kind)
    if not raw or len(raw) > MAX_NAME_CHARS:
        return None
    p = Path(raw).expanduser()
    try:
        if p.is_file():
            return "causal-lm" if p.suffix.lower() == ".gguf" else None
        if not p.is_dir():
            return None
        meta = p / "efflab_model.json"
        if meta.exists():
            return str(json.loads(meta.read_text()).get("kind", "hf"))
        if (p / "config.json").exists():
            return _folder_kind(p)
        return "causal-lm" if len(list(p.glob("*.gguf"))) == 1 else None
    except (OSError, ValueError, AttributeError):
        return None


def model_identity(name: str) -> str:
    """The stable identity of ``name`` without building or loading it (zoo: its recipe hash).

    Used for store keys, so a re-run of a sweep can skip measured points in well under a second.
    """
    low = name.strip().lower()
    if low in _zoo_names():
        import efflab.zoo as zoo

        return f"{low}@{zoo.recipe_hash(low)}"
    return resolve_model(name, progress=False).model_id


def is_known_model(name: str) -> bool:
    """True when ``resolve_model`` would accept ``name`` — decided without building, loading or
    downloading anything (a hub id is accepted on its shape)."""
    raw = name.strip()
    low = raw.lower()
    if len(raw) > MAX_NAME_CHARS:
        return False
    if raw.lower().endswith(".gguf") and Path(raw).expanduser().is_file():
        return True
    if (
        TINY_RE.match(low)
        or TINY_LLAMA_RE.match(low)
        or low in {n.lower() for n in known_names()}
        or low in PRETRAINED_ALIASES
    ):
        return True
    try:
        if Path(raw).expanduser().is_dir():
            return True
    except OSError:
        return False
    return "/" in raw and not raw.startswith((".", "/", "~")) and raw.count("/") == 1
