"""Workload specs: one TOML file describes a *distribution* of training runs.

A spec fixes some settings and gives others as ranges; :meth:`WorkloadSpec.sample`
draws one concrete :class:`RunConfig` from it with a seeded generator. Every
randomisable field takes one of three forms::

    width = 64                              # fixed
    batch_size = [32, 64, 128]              # one of these choices
    lr = {min = 1e-4, max = 1e-1, log = true}   # uniform (log-uniform) in a range

A spec file looks like this (``envs/digits-mlp.toml``)::

    name = "digits-mlp"
    description = "8x8 handwritten digits, fully connected network"

    [data]
    source = "digits"                 # a bundled data set, or "module:function"
    subset = {min = 0.6, max = 1.0}   # fraction of the samples used
    val_fraction = 0.25               # fraction held out for validation

    [model]
    kind = "mlp"                      # mlp, resmlp, cnn, conv1d, gru, lstm, transformer, or "module:function"
    width = [32, 64, 128]
    depth = {min = 1, max = 3}

    [optimizer]
    name = ["sgd", "adam"]
    momentum = 0.9                    # SGD, Nesterov and RMSprop only; 0.9 when not given (RMSprop too)
    weight_decay = 0.0                # decoupled for AdamW, an L2 term for every other optimizer

    [run]
    epochs = {min = 10, max = 30}
    batch_size = [32, 64]
    lr = {min = 1e-4, max = 1e-1, log = true}   # the initial LR
    lr_bounds = [1e-6, 1.0]           # the controller never leaves these
    steps_per_action = 0              # 0: one env step is one epoch

Mistakes (an unknown key, a wrong type, reversed bounds, a callable that does not
import) raise :class:`~lr_agent.errors.SpecError` naming the file and field, when
the spec is loaded, before any training starts.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from lr_agent import datasets, models
from lr_agent.errors import SpecError, UnknownNameError

OPTIMIZERS = (
    "sgd",
    "nesterov",
    "adam",
    "adamw",
    "rmsprop",
    "adagrad",
    "nadam",
    "radam",
    "adamax",
    "schedulefree-adamw",
    "prodigy",
)
"""Optimizer names; the last two are the LR-free optimizers of ``pip install "lr-agent[lrfree]"``."""


@dataclass(frozen=True)
class Param:
    """A spec value: fixed, one of ``choices``, or drawn from ``[low, high]``."""

    value: Any = None
    choices: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False

    def sample(self, rng: np.random.Generator) -> Any:
        """Draw a value (the fixed value when there is nothing to draw)."""
        if self.choices:
            return self.choices[int(rng.integers(len(self.choices)))]
        if self.low is None or self.high is None:
            return self.value
        if self.integer:
            if self.log:
                return round(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
            return int(rng.integers(int(self.low), int(self.high) + 1))
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))

    def values(self) -> list[Any]:
        """Every value a check must hold for: the fixed value, the choices, or both ends."""
        if self.choices:
            return list(self.choices)
        if self.low is not None:
            return [self.low, self.high]
        return [self.value]

    def describe(self) -> str:
        """Short text form, as ``lr-agent envs`` shows it."""
        if self.choices:
            return "|".join(str(c) for c in self.choices)
        if self.low is not None:
            return f"{self.low:g}-{self.high:g}"
        return str(self.value)


@dataclass(frozen=True)
class RunConfig:
    """One concrete training run, drawn from a spec. LRs are absolute values."""

    source: str
    task: str | None
    subset: float
    val_fraction: float
    model: str
    model_params: dict[str, Any]
    optimizer: str
    momentum: float
    weight_decay: float
    epochs: int
    batch_size: int
    lr: float
    lr_bounds: tuple[float, float]
    steps_per_action: int


OVERRIDABLE = tuple(f.name for f in dataclasses.fields(RunConfig))


@dataclass(frozen=True)
class WorkloadSpec:
    """A distribution of training runs; see the module docstring for the file format."""

    name: str
    description: str
    origin: str
    fixed: Mapping[str, Any]
    params: Mapping[str, Param]
    model_params: Mapping[str, Param] = field(default_factory=dict)

    @property
    def gym_id(self) -> str:
        """The Gymnasium id this spec is registered under."""
        return f"lr_agent/{self.name}-v0"

    def sample(self, rng: np.random.Generator, **overrides: Any) -> RunConfig:
        """Draw one run; ``overrides`` (any :class:`RunConfig` field) replace drawn values."""
        unknown = sorted(set(overrides) - set(OVERRIDABLE))
        if unknown:
            raise UnknownNameError("run setting", unknown[0], OVERRIDABLE)
        drawn = {key: p.sample(rng) for key, p in self.params.items()}
        model_params = {key: p.sample(rng) for key, p in self.model_params.items()}
        config = RunConfig(model_params=model_params, **self.fixed, **drawn)
        config = dataclasses.replace(config, **overrides)
        low, high = config.lr_bounds
        if not low <= config.lr <= high:
            raise ValueError(f"{self.name}: initial lr {config.lr:g} is outside lr_bounds [{low:g}, {high:g}]")
        return config

    @classmethod
    def from_toml(cls, path: str | Path) -> WorkloadSpec:
        """Read and validate a spec file."""
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise SpecError(str(path), "(file)", "no such file") from None
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(str(path), "(syntax)", str(exc)) from None
        return cls.from_dict(raw, origin=str(path))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], origin: str = "<dict>") -> WorkloadSpec:
        """Validate a spec given as a dict (the parsed TOML)."""
        return _Parser(origin).spec(raw)


def _positive(v: float) -> bool:
    return v > 0


# Section -> field -> (kind, check, what the check means, default). A default of
# `_REQUIRED` marks a field the spec must give.
_REQUIRED = object()
_SCHEMA: dict[str, dict[str, tuple[str, Callable[[Any], bool] | None, str, Any]]] = {
    "data": {
        "source": ("str", None, "", _REQUIRED),
        "task": ("str", lambda v: v in datasets.TASKS, f"one of {datasets.TASKS}", None),
        "subset": ("float", lambda v: 0 < v <= 1, "in (0, 1]", 1.0),
        "val_fraction": ("float", lambda v: 0 < v < 1, "in (0, 1)", 0.25),
    },
    "model": {
        "kind": ("str", None, "", _REQUIRED),
        "width": ("int", _positive, "at least 1", 64),
        "depth": ("int", lambda v: v >= 0, "at least 0", 2),
    },
    "optimizer": {
        "name": ("str", lambda v: v in OPTIMIZERS, f"one of {OPTIMIZERS}", "adam"),
        "momentum": ("float", lambda v: 0 <= v < 1, "in [0, 1)", 0.9),
        "weight_decay": ("float", lambda v: v >= 0, "at least 0", 0.0),
    },
    "run": {
        "epochs": ("int", _positive, "at least 1", _REQUIRED),
        "batch_size": ("int", _positive, "at least 1", 64),
        "lr": ("float", _positive, "positive", _REQUIRED),
        "lr_bounds": ("bounds", None, "", (1e-6, 1.0)),
        "steps_per_action": ("int", lambda v: v >= 0, "at least 0", 0),
    },
}
# Spec field -> RunConfig field, where the names differ.
_RENAMED = {("model", "kind"): "model", ("optimizer", "name"): "optimizer"}
# Fields that are set once per spec, never drawn.
_FIXED_ONLY = {"source", "task", "kind", "lr_bounds", "steps_per_action"}


class _Parser:
    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, where: str, problem: str) -> SpecError:
        return SpecError(self.origin, where, problem)

    def spec(self, raw: Mapping[str, Any]) -> WorkloadSpec:
        top = {"name", "description", *_SCHEMA}
        for key in raw:
            if key not in top:
                raise self.fail(key, f"unknown key; valid: {', '.join(sorted(top))}")
        name = raw.get("name")
        if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name):
            raise self.fail("name", f"expected a name of letters, digits, '-' and '_', got {name!r}")
        description = raw.get("description", "")
        if not isinstance(description, str):
            raise self.fail("description", f"expected a string, got {description!r}")
        fixed: dict[str, Any] = {}
        params: dict[str, Param] = {}
        model_params: dict[str, Param] = {}
        for section, fields in _SCHEMA.items():
            table = raw.get(section, {})
            if not isinstance(table, Mapping):
                raise self.fail(f"[{section}]", f"expected a table, got {table!r}")
            custom_model = section == "model" and ":" in str(table.get("kind", ""))
            for key in table:
                if key not in fields and not custom_model:
                    raise self.fail(f"[{section}] {key}", f"unknown key; valid: {', '.join(fields)}")
            for key, (kind, check, meaning, default) in fields.items():
                where = f"[{section}] {key}"
                if key not in table:
                    if custom_model and key not in _FIXED_ONLY:
                        continue  # a user's model takes only the keys its spec gives
                    if default is _REQUIRED:
                        raise self.fail(where, "missing; this field is required")
                    value = default
                else:
                    value = table[key]
                target = _RENAMED.get((section, key), key)
                if kind == "bounds":
                    fixed[target] = self.bounds(where, value)
                elif key in _FIXED_ONLY:
                    fixed[target] = None if value is None else self.param(where, value, kind, check, meaning).value
                    if fixed[target] is None and value is not None:
                        raise self.fail(where, f"this field takes one fixed value, got {value!r}")
                else:
                    param = self.param(where, value, kind, check, meaning)
                    (model_params if section == "model" else params)[target] = param
            if custom_model:
                for key in set(table) - set(fields):
                    model_params[key] = self.param(f"[model] {key}", table[key], "any", None, "")
        self.check_references(fixed, model_params)
        low, high = fixed["lr_bounds"]
        for lr in params["lr"].values():
            if not low <= lr <= high:
                raise self.fail("[run] lr", f"initial lr {lr:g} is outside lr_bounds [{low:g}, {high:g}]")
        if "nesterov" in params["optimizer"].values() and min(params["momentum"].values()) <= 0:
            raise self.fail("[optimizer] momentum", "the nesterov optimizer needs a momentum above 0")
        return WorkloadSpec(name, description, self.origin, fixed, params, model_params)

    def bounds(self, where: str, value: Any) -> tuple[float, float]:
        ok = (
            isinstance(value, list | tuple)
            and len(value) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        )
        if not ok or not 0 < value[0] < value[1]:
            raise self.fail(where, f"expected [min, max] with 0 < min < max, got {value!r}")
        return float(value[0]), float(value[1])

    def param(self, where: str, value: Any, kind: str, check, meaning: str) -> Param:
        def typed(v: Any) -> Any:
            if kind == "any":
                return v
            if kind == "str":
                good = isinstance(v, str)
            elif kind == "int":
                good = isinstance(v, int) and not isinstance(v, bool)
            else:
                good = isinstance(v, int | float) and not isinstance(v, bool)
            if not good:
                raise self.fail(
                    where,
                    f"expected {'an' if kind == 'int' else 'a'} {kind}, a list of them, "
                    f"or {{min = ..., max = ...}}; got {v!r}",
                )
            if check and not check(v):
                raise self.fail(where, f"expected {meaning}, got {v!r}")
            return float(v) if kind == "float" else v

        if isinstance(value, Mapping):
            extra = set(value) - {"min", "max", "log"}
            if extra or "min" not in value or "max" not in value or kind in ("str", "any"):
                raise self.fail(where, f"a range is {{min = ..., max = ..., log = true|false}}, got {dict(value)!r}")
            low, high = typed(value["min"]), typed(value["max"])
            log = value.get("log", False)
            if not isinstance(log, bool):
                raise self.fail(where, f"log must be true or false, got {log!r}")
            if low > high:
                raise self.fail(where, f"min {low!r} is greater than max {high!r}")
            if log and low <= 0:
                raise self.fail(where, f"a log range needs min > 0, got {low!r}")
            return Param(low=low, high=high, log=log, integer=kind == "int")
        if isinstance(value, list):
            if not value:
                raise self.fail(where, "an empty list of choices")
            return Param(choices=tuple(typed(v) for v in value))
        return Param(value=typed(value))

    def check_references(self, fixed: dict[str, Any], model_params: dict[str, Param]) -> None:
        source, kind = fixed["source"], fixed["model"]
        if ":" in source:
            try:
                datasets.import_callable(source)
            except ValueError as exc:
                raise self.fail("[data] source", str(exc)) from None
            if fixed["task"] is None:
                raise self.fail("[data] task", f"a custom source needs task = one of {datasets.TASKS}")
        elif source not in datasets.BUILTIN:
            raise self.fail(
                "[data] source",
                f"unknown data set {source!r}; valid: {', '.join(datasets.BUILTIN)}, or 'module:function'",
            )
        elif fixed["task"] is not None:
            raise self.fail("[data] task", f"the bundled data set {source!r} sets its own task; remove it")
        if ":" in kind:
            try:
                datasets.import_callable(kind)
            except ValueError as exc:
                raise self.fail("[model] kind", str(exc)) from None
        elif kind not in models.KINDS:
            raise self.fail(
                "[model] kind", f"unknown model {kind!r}; valid: {', '.join(models.KINDS)}, or 'module:function'"
            )
        elif kind == "cnn" and source not in datasets.IMAGE_SHAPES:
            raise self.fail(
                "[model] kind",
                f"cnn needs an image data set ({', '.join(datasets.IMAGE_SHAPES)}); {source!r} is not one",
            )
        elif kind in models.SEQUENCE_KINDS and source not in datasets.SEQUENCE_SHAPES:
            raise self.fail(
                "[model] kind",
                f"{kind} needs a sequence data set ({', '.join(datasets.SEQUENCE_SHAPES)}); {source!r} is not one",
            )
        depths = model_params["depth"].values() if "depth" in model_params else [1]
        if kind in ("cnn", *models.SEQUENCE_KINDS) and min(depths) < 1:
            raise self.fail("[model] depth", f"{kind} needs at least 1 layer, got {min(depths)!r}")
        if kind == "transformer" and "width" in model_params:
            width, heads = model_params["width"], models.TRANSFORMER_HEADS
            drawn = range(int(width.low), int(width.high) + 1) if width.low is not None else width.values()
            if any(w % heads for w in drawn):
                raise self.fail(
                    "[model] width", f"a transformer's {heads} heads need every width to be a multiple of {heads}"
                )
        if kind == "conv1d":  # each block halves the sequence
            steps = datasets.SEQUENCE_SHAPES[source][0]
            if 2 ** max(depths) > steps:
                raise self.fail(
                    "[model] depth",
                    f"conv1d on {source!r} ({steps} steps) takes at most {steps.bit_length() - 1} blocks, "
                    f"got {max(depths)!r}",
                )


def catalogue_dir() -> Path:
    """The folder of bundled spec files: inside the installed package, or ``envs/`` of a checkout."""
    packaged = Path(str(resources.files("lr_agent"))) / "envs"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "envs"


@functools.cache
def catalogue() -> dict[str, WorkloadSpec]:
    """Every bundled spec, by name."""
    specs = [WorkloadSpec.from_toml(path) for path in sorted(catalogue_dir().glob("*.toml"))]
    return {spec.name: spec for spec in specs}


def get_spec(name_or_path: str | Path | WorkloadSpec) -> WorkloadSpec:
    """A spec by catalogue name (``digits-mlp``), Gymnasium id or path to a TOML file."""
    if isinstance(name_or_path, WorkloadSpec):
        return name_or_path
    text = str(name_or_path)
    if text.endswith(".toml"):
        return WorkloadSpec.from_toml(text)
    name = text.removeprefix("lr_agent/").removesuffix("-v0")
    specs = catalogue()
    if name not in specs:
        raise UnknownNameError("workload", text, list(specs))
    return specs[name]
