"""The exported controller: a small policy network in one safe file, and the code that runs it.

A controller file (``.lrc``) is a safetensors file: the policy's weights and the
observation normaliser as tensors, and a JSON document in the header's metadata
(format version, observation features, action set, LR bounds, what it was
trained on and how it scored). Reading it needs torch and the standard library
only: the header is parsed as JSON and each tensor is copied from its byte
range, so loading a file from an untrusted source never executes code.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lr_agent.errors import LRAgentError
from lr_agent.observation import FEATURES
from lr_agent.scale_probe import (
    check_scale_probe_climb,
    check_scale_probe_decades,
    check_scale_probe_epochs,
    check_scale_probe_fraction,
    check_scale_probe_hold,
    check_scale_probe_walk,
    check_scale_probe_width,
)
from lr_agent.schedules import (
    check_anneal_tail,
    check_range_test_extend,
    check_range_test_fraction,
    range_test_fraction_for,
)

FORMAT = "lr-agent-controller"
FORMAT_VERSION = 12
_METADATA_KEY = "lr_agent"
_DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16}
_MAX_HEADER = 16 * 1024 * 1024
ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}
OUTPUTS = ("argmax", "tanh", "clip")
"""How the head's output becomes an action: argmax over discrete choices, tanh or clip to [-1, 1]."""


class ControllerFileError(LRAgentError, ValueError):
    """A controller file is truncated, corrupt, of a newer format, or inconsistent."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


@dataclass
class Controller:
    """A learned LR controller: observation in, LR factor out.

    ``layers`` are the hidden ``(weight, bias)`` pairs, each followed by
    ``activation``; ``head`` maps to the action logits (discrete) or the action
    mean (continuous). Observations are normalised as ``clip((obs - mean) /
    sqrt(var + eps), ±obs_clip)`` first, as stable-baselines3's ``VecNormalize`` did
    in training.

    ``range_test_steps > 0`` marks a controller trained to start from an LR range
    test of that many steps: it expects the run's LR to be set to the test's
    suggestion (``range_test_fraction`` × the LR at the loss minimum, sweeping
    ``range_test_span`` × the starting LR, and up to ``range_test_extend`` decades
    further while the loss still falls; with ``range_test_flat_fallback``, of the LR where
    the loss starts to rise when it never falls beyond its noise; with an adaptive optimizer,
    ``range_test_adaptive_fraction`` × that LR when set) before its first decision
    (see :meth:`ControllerScheduler.range_test`).

    ``anneal_tail > 0`` multiplies the LR the controller picks by a cosine from 1 toward 0
    over the last ``anneal_tail`` of the budget (:func:`~lr_agent.schedules.anneal_factor`);
    the controller goes on seeing and moving its own LR, before the tail's factor.

    ``scale_probe_epochs > 0`` checks the range test's suggestion with a scale probe
    (:mod:`lr_agent.scale_probe`): the suggestion snapped to a grid of ``scale_probe_decades``
    and the ``scale_probe_width`` grid LRs either side (default 1) each train that many epochs,
    or ``scale_probe_fraction`` of the run's epochs when longer, from the same weights, and the
    one with the lowest validation loss becomes the anchor. With ``scale_probe_anneal`` each
    candidate's LR falls along a cosine to zero over its steps (after ``scale_probe_hold`` of
    them at the candidate's LR); with ``scale_probe_walk`` the
    probe tries up to that many more grid LRs past the best while it is the lowest or highest
    tried; with ``scale_probe_climb`` it then goes on upward, up to that many more LRs, while the
    best is the highest tried and the loss fell at every higher LR (a decade a step while the
    best barely lowered the loss). Width, fraction, anneal, hold, walk and climb need a probe.
    """

    layers: list[tuple[torch.Tensor, torch.Tensor]]
    head: tuple[torch.Tensor, torch.Tensor]
    obs_mean: torch.Tensor
    obs_var: torch.Tensor
    activation: str = "tanh"
    output: str = "argmax"
    obs_clip: float = 10.0
    obs_epsilon: float = 1e-8
    features: tuple[str, ...] = FEATURES
    multipliers: tuple[float, ...] = ()
    max_log10_step: float = 1.0
    relative_lr_bounds: tuple[float, float] = (1e-3, 1e3)
    divergence_cut: float = 0.1
    range_test_steps: int = 0
    range_test_fraction: float = 0.1
    range_test_span: tuple[float, float] = (1e-4, 1e4)
    range_test_extend: float = 0.0
    range_test_flat_fallback: bool = False
    range_test_adaptive_fraction: float | None = None
    anneal_tail: float = 0.0
    scale_probe_epochs: float = 0.0
    scale_probe_decades: float = 0.5
    scale_probe_width: int = 1
    scale_probe_fraction: float = 0.0
    scale_probe_anneal: bool = False
    scale_probe_hold: float = 0.0
    scale_probe_walk: int = 0
    scale_probe_climb: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check("<in memory>")
        self._scale = torch.rsqrt(self.obs_var + self.obs_epsilon)

    @property
    def action_mode(self) -> str:
        """``"discrete"`` (an index into ``multipliers``) or ``"continuous"`` (a log10 step)."""
        return "discrete" if self.output == "argmax" else "continuous"

    @torch.no_grad()
    def outputs(self, observation: np.ndarray | torch.Tensor) -> torch.Tensor:
        """The head's raw output for one observation: one score per action (PPO's and A2C's logits,
        DQN's Q-values), or the continuous action's mean."""
        x = torch.as_tensor(observation, dtype=torch.float32).reshape(-1)
        x = ((x - self.obs_mean) * self._scale).clamp_(-self.obs_clip, self.obs_clip)
        activation = ACTIVATIONS[self.activation]
        for weight, bias in self.layers:
            x = activation(torch.addmv(bias, weight, x))
        return torch.addmv(self.head[1], self.head[0], x)

    def act(self, observation: np.ndarray | torch.Tensor) -> int | np.ndarray:
        """The action for one observation: an index (discrete) or an array of one number in [-1, 1]."""
        x = self.outputs(observation)
        if self.output == "argmax":
            return int(x.argmax())
        return (torch.tanh(x) if self.output == "tanh" else x.clamp(-1.0, 1.0)).numpy()

    def lr_factor(self, observation: np.ndarray | torch.Tensor) -> float:
        """The factor the controller applies to the current LR for this observation."""
        action = self.act(observation)
        if self.output == "argmax":
            return self.multipliers[action]
        return 10.0 ** (float(action[0]) * self.max_log10_step)

    def lr_bounds_for(self, initial_lr: float) -> tuple[float, float]:
        """The absolute LR bounds for a run starting at ``initial_lr``."""
        low, high = self.relative_lr_bounds
        return initial_lr * low, initial_lr * high

    # -- the file -------------------------------------------------------------------------

    def tensors(self) -> dict[str, torch.Tensor]:
        """The tensors as the file stores them, by name."""
        tensors = {"obs_mean": self.obs_mean, "obs_var": self.obs_var}
        for i, (weight, bias) in enumerate(self.layers):
            tensors[f"layer{i}.weight"], tensors[f"layer{i}.bias"] = weight, bias
        tensors["head.weight"], tensors["head.bias"] = self.head
        return {k: v.detach().to(torch.float32).contiguous() for k, v in tensors.items()}

    def metadata(self) -> dict[str, Any]:
        """The JSON document the file stores beside the tensors."""
        return {
            "format": FORMAT,
            "format_version": self.format_version,
            "features": list(self.features),
            "observation": {"clip": self.obs_clip, "epsilon": self.obs_epsilon},
            "network": {"num_layers": len(self.layers), "activation": self.activation, "output": self.output},
            "actions": {
                "mode": self.action_mode,
                "multipliers": list(self.multipliers),
                "max_log10_step": self.max_log10_step,
            },
            "relative_lr_bounds": list(self.relative_lr_bounds),
            "divergence_cut": self.divergence_cut,
            "range_test": self.range_test_settings(),
            **({"anneal_tail": self.anneal_tail} if self.anneal_tail else {}),
            **({"scale_probe": self.scale_probe_settings()} if self.scale_probe_epochs else {}),
            "info": self.info,
        }

    def range_test_settings(self) -> dict[str, Any]:
        """The range test's settings as the file stores them (the newer ones only when used)."""
        return {
            "num_steps": self.range_test_steps,
            "fraction": self.range_test_fraction,
            "span": list(self.range_test_span),
            "extend": self.range_test_extend,
            **({"flat_fallback": True} if self.range_test_flat_fallback else {}),
            **({"adaptive_fraction": a} if (a := self.range_test_adaptive_fraction) is not None else {}),
        }

    def scale_probe_settings(self) -> dict[str, Any]:
        """The scale probe's settings as the file stores them (the newer ones only when used)."""
        return {
            "epochs": self.scale_probe_epochs,
            "decades": self.scale_probe_decades,
            **({"width": self.scale_probe_width} if self.scale_probe_width != 1 else {}),
            **({"fraction": self.scale_probe_fraction} if self.scale_probe_fraction else {}),
            **({"anneal": True} if self.scale_probe_anneal else {}),
            **({"hold": self.scale_probe_hold} if self.scale_probe_hold else {}),
            **({"walk": self.scale_probe_walk} if self.scale_probe_walk else {}),
            **({"climb": self.scale_probe_climb} if self.scale_probe_climb else {}),
        }

    def range_test_fraction_for(self, optimizer: torch.optim.Optimizer) -> float:
        """The fraction of the loss minimum's LR the range test suggests for ``optimizer``:
        ``range_test_adaptive_fraction`` for an adaptive one when set, else ``range_test_fraction``."""
        return range_test_fraction_for(optimizer, self.range_test_fraction, self.range_test_adaptive_fraction)

    def env_kwargs(self) -> dict[str, Any]:
        """The :class:`~lr_agent.env.TrainingRunEnv` settings that run this controller as it acts
        in a user's loop: its action set, LR bounds, range test, scale probe and anneal tail."""
        return {
            "action_mode": self.action_mode,
            "multipliers": self.multipliers or (1.0,),
            "max_log10_step": self.max_log10_step,
            "relative_lr_bounds": self.relative_lr_bounds,
            "range_test_steps": self.range_test_steps,
            "range_test_fraction": self.range_test_fraction,
            "range_test_span": self.range_test_span,
            "range_test_extend": self.range_test_extend,
            "range_test_flat_fallback": self.range_test_flat_fallback,
            "range_test_adaptive_fraction": self.range_test_adaptive_fraction,
            "anneal_tail": self.anneal_tail,
            "scale_probe_epochs": self.scale_probe_epochs,
            "scale_probe_decades": self.scale_probe_decades,
            "scale_probe_width": self.scale_probe_width,
            "scale_probe_fraction": self.scale_probe_fraction,
            "scale_probe_anneal": self.scale_probe_anneal,
            "scale_probe_hold": self.scale_probe_hold,
            "scale_probe_walk": self.scale_probe_walk,
            "scale_probe_climb": self.scale_probe_climb,
        }

    @property
    def format_version(self) -> int:
        """The oldest file format that holds this controller, so older readers run what they can:
        12 with a held scale probe, 11 with a climbing one, 10 with a walking one, 9 with an
        annealed one, 8 with a wider or longer one, 7 with a scale probe, 6 with an anneal tail, 5
        with a fraction for adaptive optimizers, 4 with the range test's flat fallback, 3 with its
        extension, else 2."""
        if self.scale_probe_epochs:
            if self.scale_probe_hold:
                return 12
            if self.scale_probe_climb:
                return 11
            if self.scale_probe_walk:
                return 10
            if self.scale_probe_anneal:
                return 9
            return 8 if self.scale_probe_width != 1 or self.scale_probe_fraction else 7
        if self.anneal_tail:
            return 6
        if self.range_test_adaptive_fraction is not None:
            return 5
        return 4 if self.range_test_flat_fallback else 3 if self.range_test_extend else 2

    @property
    def fingerprint(self) -> str:
        """A short hash of the weights, to tell controllers apart in saved scheduler states."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.tensors().items()):
            digest.update(name.encode())
            digest.update(tensor.numpy().tobytes())
        return digest.hexdigest()[:16]

    def save(self, path: str | Path) -> Path:
        """Write the controller file atomically: a crash leaves the old file or the new one, never half."""
        from safetensors.torch import save as to_bytes

        payload = to_bytes(self.tensors(), metadata={_METADATA_KEY: json.dumps(self.metadata())})
        return atomic_write(Path(path), payload)

    @classmethod
    def load(cls, path: str | Path) -> Controller:
        """Read a controller file, checking it before trusting any of it; never unpickles."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ControllerFileError(path, "no such file") from None
        tensors, meta = _read_safetensors(path, data)
        return cls._from_parts(path, tensors, meta)

    @classmethod
    def pretrained(cls) -> Controller:
        """The default controller that ships inside the package (see the README for how it was made)."""
        return cls.load(Path(str(resources.files("lr_agent"))) / "data" / "default.lrc")

    @classmethod
    def _from_parts(cls, path: Path, tensors: dict[str, torch.Tensor], meta: Mapping[str, Any]) -> Controller:
        if meta.get("format") != FORMAT:
            raise ControllerFileError(path, f"not an lr-agent controller (format {meta.get('format')!r})")
        version = meta.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ControllerFileError(path, f"corrupt: format_version {version!r} is not a version number")
        if version > FORMAT_VERSION:
            raise ControllerFileError(
                path,
                f"format version {version!r} is newer than this lr-agent reads ({FORMAT_VERSION}); upgrade lr-agent",
            )
        try:
            network, actions, observation = meta["network"], meta["actions"], meta["observation"]
            num_layers = int(network["num_layers"])
            range_test = meta.get("range_test", {"num_steps": 0, "fraction": 0.1, "span": [1e-4, 1e4]})  # new in v2
            probe = meta.get("scale_probe", {"epochs": 0.0, "decades": 0.5})  # new in v7
            expected = {"obs_mean", "obs_var", "head.weight", "head.bias"}
            expected |= {f"layer{i}.{p}" for i in range(num_layers) for p in ("weight", "bias")}
            if set(tensors) != expected:
                missing, extra = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
                raise ControllerFileError(
                    path, f"metadata does not match tensors: missing {missing}, unexpected {extra}"
                )
            return cls(
                layers=[(tensors[f"layer{i}.weight"], tensors[f"layer{i}.bias"]) for i in range(num_layers)],
                head=(tensors["head.weight"], tensors["head.bias"]),
                obs_mean=tensors["obs_mean"],
                obs_var=tensors["obs_var"],
                activation=network["activation"],
                output=network["output"],
                obs_clip=float(observation["clip"]),
                obs_epsilon=float(observation["epsilon"]),
                features=tuple(meta["features"]),
                multipliers=tuple(float(m) for m in actions["multipliers"]),
                max_log10_step=float(actions["max_log10_step"]),
                relative_lr_bounds=tuple(float(b) for b in meta["relative_lr_bounds"]),
                divergence_cut=float(meta["divergence_cut"]),
                range_test_steps=int(range_test["num_steps"]),
                range_test_fraction=float(range_test["fraction"]),
                range_test_span=tuple(float(f) for f in range_test["span"]),
                range_test_extend=float(range_test.get("extend", 0.0)),  # new in v3
                range_test_flat_fallback=range_test.get("flat_fallback", False),  # new in v4
                range_test_adaptive_fraction=range_test.get("adaptive_fraction"),  # new in v5
                anneal_tail=meta.get("anneal_tail", 0.0),  # new in v6
                scale_probe_epochs=probe["epochs"],
                scale_probe_decades=probe["decades"],
                scale_probe_width=probe.get("width", 1),  # new in v8
                scale_probe_fraction=probe.get("fraction", 0.0),  # new in v8
                scale_probe_anneal=probe.get("anneal", False),  # new in v9
                scale_probe_hold=probe.get("hold", 0.0),  # new in v12
                scale_probe_walk=probe.get("walk", 0),  # new in v10
                scale_probe_climb=probe.get("climb", 0),  # new in v11
                info=dict(meta.get("info", {})),
            )
        except ControllerFileError as exc:
            raise ControllerFileError(path, exc.problem) from None
        except (KeyError, TypeError, ValueError) as exc:
            problem = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ControllerFileError(path, f"metadata does not match tensors: {problem}") from None

    def _check(self, where: str) -> None:
        def fail(problem: str) -> ControllerFileError:
            return ControllerFileError(where, f"metadata does not match tensors: {problem}")

        if self.activation not in ACTIVATIONS:
            raise fail(f"activation {self.activation!r}; valid: {', '.join(ACTIVATIONS)}")
        if self.output not in OUTPUTS:
            raise fail(f"output {self.output!r}; valid: {', '.join(OUTPUTS)}")
        if tuple(self.features) != FEATURES:
            raise fail(f"features {list(self.features)} differ from this lr-agent's {list(FEATURES)}")
        size = len(FEATURES)
        if self.obs_mean.shape != (size,) or self.obs_var.shape != (size,):
            raise fail(
                f"obs_mean/obs_var have shapes {tuple(self.obs_mean.shape)}, {tuple(self.obs_var.shape)}; "
                f"expected ({size},)"
            )
        for name, (weight, bias) in [*((f"layer{i}", lb) for i, lb in enumerate(self.layers)), ("head", self.head)]:
            if weight.ndim != 2 or weight.shape[1] != size or bias.shape != (weight.shape[0],):
                raise fail(
                    f"{name} has weight {tuple(weight.shape)} and bias {tuple(bias.shape)} after an input of {size}"
                )
            size = weight.shape[0]
        for name, tensor in self.tensors().items():
            if not torch.isfinite(tensor).all():
                raise fail(f"tensor {name!r} holds non-finite values")
        if (self.obs_var < 0).any():
            raise fail("obs_var has negative entries")
        for name in ("obs_clip", "obs_epsilon"):
            value = getattr(self, name)
            if not (isinstance(value, float | int) and math.isfinite(value) and value > 0):
                raise fail(f"{name} must be a positive finite number, got {value!r}")
        if not (math.isfinite(self.max_log10_step) and 0 < self.max_log10_step <= 10):
            raise fail(f"max_log10_step must be in (0, 10], got {self.max_log10_step!r}")
        outputs = len(self.multipliers) if self.output == "argmax" else 1
        if size != outputs:
            raise fail(f"the head gives {size} outputs, the action set needs {outputs}")
        finite_positive = all(math.isfinite(m) and m > 0 for m in self.multipliers)
        if self.output == "argmax" and (1.0 not in self.multipliers or not finite_positive):
            raise fail(f"multipliers must be positive and contain 1.0, got {list(self.multipliers)}")
        low, high = self.relative_lr_bounds
        if not (0 < low <= 1 <= high and math.isfinite(high)):
            raise fail(f"relative_lr_bounds must satisfy 0 < low <= 1 <= high, got {[low, high]}")
        if not 0 < self.divergence_cut < 1:  # also False for NaN
            raise fail(f"divergence_cut must be in (0, 1), got {self.divergence_cut}")
        if self.range_test_steps == 1 or self.range_test_steps < 0:
            raise fail(f"range_test num_steps must be 0 (none) or at least 2, got {self.range_test_steps}")
        span = self.range_test_span
        if len(span) != 2 or not (0 < span[0] < span[1] and math.isfinite(span[1])):
            raise fail(f"range_test span must be [low, high] with 0 < low < high, got {list(span)}")
        try:
            check_range_test_fraction(self.range_test_fraction, "range_test fraction")
            check_range_test_extend(self.range_test_extend, "range_test extend")
            if self.range_test_adaptive_fraction is not None:
                check_range_test_fraction(self.range_test_adaptive_fraction, "range_test adaptive_fraction")
            check_anneal_tail(self.anneal_tail)
            check_scale_probe_epochs(self.scale_probe_epochs, "scale_probe epochs")
            check_scale_probe_decades(self.scale_probe_decades, "scale_probe decades")
            check_scale_probe_width(self.scale_probe_width, "scale_probe width")
            check_scale_probe_fraction(self.scale_probe_fraction, "scale_probe fraction")
            check_scale_probe_hold(self.scale_probe_hold, "scale_probe hold")
            check_scale_probe_walk(self.scale_probe_walk, "scale_probe walk")
            check_scale_probe_climb(self.scale_probe_climb, "scale_probe climb")
        except ValueError as exc:
            raise fail(str(exc)) from None
        if not isinstance(self.range_test_flat_fallback, bool):
            raise fail(f"range_test flat_fallback must be true or false, got {self.range_test_flat_fallback!r}")
        if not self.range_test_steps and (self.range_test_flat_fallback or self.range_test_adaptive_fraction):
            raise fail("range_test flat_fallback and adaptive_fraction need a range test (num_steps is 0)")
        if not isinstance(self.scale_probe_anneal, bool):
            raise fail(f"scale_probe anneal must be true or false, got {self.scale_probe_anneal!r}")
        if self.scale_probe_hold and not self.scale_probe_anneal:
            raise fail(
                f"scale_probe hold {self.scale_probe_hold!r} needs anneal true (the held share of an annealed "
                "candidate's steps)"
            )
        if not self.scale_probe_epochs and (
            self.scale_probe_width != 1
            or self.scale_probe_fraction
            or self.scale_probe_anneal
            or self.scale_probe_hold
            or self.scale_probe_walk
            or self.scale_probe_climb
        ):
            raise fail(
                "scale_probe width, fraction, anneal, hold, walk and climb need a probe (scale_probe epochs is 0)"
            )
        if self.scale_probe_epochs and not self.range_test_steps:
            raise fail("scale_probe needs a range test (range_test num_steps is 0): it checks the test's suggestion")


def _read_safetensors(path: Path, data: bytes) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Parse a safetensors file with the standard library and torch; check every offset."""
    if len(data) < 8:
        raise ControllerFileError(path, f"truncated: {len(data)} bytes, not even a header length")
    header_size = int.from_bytes(data[:8], "little")
    if header_size > _MAX_HEADER:
        raise ControllerFileError(path, "not a controller file (no safetensors header; is it a pickle or a zip?)")
    if 8 + header_size > len(data):
        raise ControllerFileError(path, f"truncated: the header needs {header_size} bytes, {len(data) - 8} remain")
    try:
        header = json.loads(data[8 : 8 + header_size])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ControllerFileError(path, "corrupt: the header is not valid JSON") from None
    if not isinstance(header, dict):
        raise ControllerFileError(path, "corrupt: the header is not a JSON object")
    body = memoryview(data)[8 + header_size :]
    raw_meta = header.pop("__metadata__", None) or {}
    if not isinstance(raw_meta, dict) or _METADATA_KEY not in raw_meta:
        raise ControllerFileError(path, "not an lr-agent controller: the safetensors metadata has no 'lr_agent' entry")
    try:
        meta = json.loads(raw_meta[_METADATA_KEY])
    except (TypeError, json.JSONDecodeError):
        raise ControllerFileError(path, "corrupt: the lr_agent metadata is not valid JSON") from None
    if not isinstance(meta, dict):
        raise ControllerFileError(path, "corrupt: the lr_agent metadata is not a JSON object")
    tensors = {}
    for name, entry in header.items():
        try:
            dtype = _DTYPES[entry["dtype"]]
            shape = [int(s) for s in entry["shape"]]
            begin, end = (int(o) for o in entry["data_offsets"])
            if any(s < 0 for s in shape):
                raise ValueError(shape)
        except (KeyError, TypeError, ValueError):
            raise ControllerFileError(path, f"corrupt: tensor {name!r} has a bad header entry {entry!r}") from None
        itemsize = torch.empty((), dtype=dtype).element_size()
        if end > len(body):
            raise ControllerFileError(path, f"truncated: tensor {name!r} ends at byte {end}, the data has {len(body)}")
        if begin < 0 or end - begin != math.prod(shape) * itemsize:
            raise ControllerFileError(path, f"corrupt: tensor {name!r} has offsets {[begin, end]} for shape {shape}")
        if begin == end:
            tensors[name] = torch.empty(shape, dtype=torch.float32)
        else:
            tensors[name] = torch.frombuffer(bytearray(body[begin:end]), dtype=dtype).reshape(shape).float()
    return tensors, meta


def atomic_write(path: Path, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
