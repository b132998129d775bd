"""``SweepSpec``: models x batch sizes x precisions x devices on a task. YAML in, YAML out."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from efflab.config import Config, MethodSettings, parse_device, parse_precision, positive_int
from efflab.errors import ConfigError

DEFAULT_BATCH_SIZES = (1, 8, 32, 128)
DEFAULT_PRECISIONS = ("fp32", "bf16", "int8")


def default_models() -> tuple[str, ...]:
    """The built-in family, smallest first."""
    try:
        import efflab.zoo as zoo
    except ModuleNotFoundError:
        return ("minilm-l6",)
    return tuple(zoo.names())


def _tuple(name: str, value: Any) -> tuple[Any, ...]:
    if isinstance(value, (str, int)):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        msg = f"{name} must be a non-empty list, got {value!r}"
        raise ConfigError(msg)
    return tuple(value)


@dataclass(frozen=True)
class SweepSpec:
    """A grid to measure. Validation only; ``configs()`` expands it.

    Attributes:
        models: zoo names, folders or hub ids (default: the built-in family).
        batch_sizes: positive integers (default 1, 8, 32, 128).
        precisions: from fp32, bf16, fp16, int8 (default fp32, bf16, int8).
        devices: cpu, cuda, cuda:N (default cpu).
        task: task name or CSV path for accuracy (default ``reviews``); None for cost only.
        seq_len: tokens per query (default 128).
        sensor: energy sensor name (default auto).
        method: measurement settings.
        cast: ``model`` (cast weights) or ``autocast`` for the fp16/bf16 points.
    """

    models: tuple[str, ...] = field(default_factory=default_models)
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    precisions: tuple[str, ...] = DEFAULT_PRECISIONS
    devices: tuple[str, ...] = ("cpu",)
    task: str | None = "reviews"
    seq_len: int = 128
    sensor: str = "auto"
    method: MethodSettings = field(default_factory=MethodSettings)
    cast: str = "model"

    def __post_init__(self) -> None:
        models = _tuple("models", self.models)
        for m in models:
            if not isinstance(m, str) or not m.strip():
                msg = f"models must be names or paths, got {m!r}; see `efflab zoo list`"
                raise ConfigError(msg)
        object.__setattr__(self, "models", tuple(m.strip() for m in models))
        object.__setattr__(
            self,
            "batch_sizes",
            tuple(
                positive_int("batch size", b, "batch_sizes: [1, 8, 32]")
                for b in _tuple("batch_sizes", self.batch_sizes)
            ),
        )
        object.__setattr__(
            self, "precisions", tuple(parse_precision(p) for p in _tuple("precisions", self.precisions))
        )
        object.__setattr__(self, "devices", tuple(parse_device(d) for d in _tuple("devices", self.devices)))
        object.__setattr__(self, "seq_len", positive_int("seq_len", self.seq_len, "seq_len: 128"))
        from efflab.errors import closest

        sensors = ("auto", "nvml", "rapl", "codecarbon", "fake")
        if not isinstance(self.sensor, str) or self.sensor.strip().lower() not in sensors:
            msg = f"unknown sensor {self.sensor!r}; use one of {', '.join(sensors)}.{closest(str(self.sensor), sensors)}"
            raise ConfigError(msg)
        if isinstance(self.method, dict):
            object.__setattr__(self, "method", MethodSettings.from_dict(self.method))
        for name in ("models", "batch_sizes", "precisions", "devices"):
            v = getattr(self, name)
            if len(set(v)) != len(v):
                msg = f"{name} has duplicates: {list(v)}"
                raise ConfigError(msg)

    def configs(self) -> list[Config]:
        """Every configuration, ordered so a loaded model is reused across batch sizes."""
        return [
            Config(
                model=m,
                batch_size=b,
                precision=p,
                device=d,
                seq_len=self.seq_len,
                task=self.task,
                cast=self.cast if p in ("fp16", "bf16") else "model",
            )
            for d in self.devices
            for m in self.models
            for p in self.precisions
            for b in self.batch_sizes
        ]

    def __len__(self) -> int:
        return len(self.models) * len(self.batch_sizes) * len(self.precisions) * len(self.devices)

    # ----- serialisation -----
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("models", "batch_sizes", "precisions", "devices"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepSpec:
        if not isinstance(d, dict):
            msg = f"a sweep spec must be a mapping of fields, got {type(d).__name__}"
            raise ConfigError(msg)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            msg = f"unknown sweep spec field(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}"
            raise ConfigError(msg)
        d = dict(d)
        if "method" in d and d["method"] is not None:
            d["method"] = MethodSettings.from_dict(dict(d["method"]))
        elif "method" in d:
            d.pop("method")
        return cls(**d)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text_or_path: str | Path) -> SweepSpec:
        """Read a spec from YAML text or a ``.yaml``/``.yml`` file path."""
        import yaml

        text = str(text_or_path)
        p = Path(text)
        if isinstance(text_or_path, Path) or (len(text) < 4096 and p.suffix in (".yaml", ".yml")):
            try:
                text = p.read_text()
            except OSError as e:
                msg = f"cannot read sweep spec {str(p)!r}: {e.strerror}; check the path"
                raise ConfigError(msg) from e
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            msg = f"sweep spec is not valid YAML: {str(e).splitlines()[0]}"
            raise ConfigError(msg) from e
        return cls.from_dict(data)
