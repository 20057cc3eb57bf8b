"""Baseline LR schedules: each runs as a policy on the env and as an ordinary torch scheduler.

A :class:`Schedule` gives the LR as a *factor on the initial LR* for period
``t`` of ``horizon`` (a period is an epoch, or an env step). The one hook is
:meth:`Schedule.factor`; :class:`ScheduleLR` turns any schedule into a
``torch.optim.lr_scheduler.LRScheduler``, and :func:`lr_agent.episodes.run_episode`
drives a :class:`~lr_agent.env.TrainingRunEnv` with it, so a baseline and a
controller are compared on identical runs.

Example (cosine over 4 epochs from LR 0.1)::

    >>> import torch
    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    >>> sched = ScheduleLR(opt, Cosine(), total_epochs=4)
    >>> lrs = []
    >>> for _ in range(4):
    ...     lrs.append(round(sched.get_last_lr()[0], 4)); opt.step(); sched.step()
    >>> lrs
    [0.1, 0.0854, 0.05, 0.0146]
"""

from __future__ import annotations

import abc
import math
import numbers
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from lr_agent.errors import UnknownNameError

Probe = Callable[[], float]
"""Runs an LR range test on the job and returns the LR it suggests (absolute)."""


class Schedule(abc.ABC):
    """An LR schedule: the factor on the initial LR for each period ``t`` (0-based) of ``horizon``.

    Subclasses implement :meth:`factor`; schedules that react to the run
    override :meth:`observe`, and those that need a probe set ``needs_probe``.
    """

    name: ClassVar[str] = ""
    needs_probe: ClassVar[bool] = False

    def start(self, horizon: int, initial_lr: float, probe: Probe | None = None) -> None:
        """Begin a run of ``horizon`` periods from ``initial_lr`` (absolute)."""
        if horizon < 1:
            raise ValueError(f"horizon must be at least 1, got {horizon!r}")
        if self.needs_probe and probe is None:
            raise ValueError(f"the {self.name!r} schedule needs a probe (an LR range test) to start")
        self.horizon = horizon
        self.initial_lr = initial_lr

    def observe(self, val_loss: float) -> None:  # noqa: B027 (an optional hook; fixed schedules ignore it)
        """Take the validation loss at the end of a period (ignored by fixed schedules)."""

    @abc.abstractmethod
    def factor(self, t: int) -> float:
        """The LR of period ``t`` divided by the initial LR (the one hook each schedule implements)."""

    def state_dict(self) -> dict[str, Any]:
        """The schedule's numbers: its settings and what it has seen."""
        return dict(vars(self))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        vars(self).update(state)


def _cosine(t: int, horizon: int, final: float = 0.0) -> float:
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * t / horizon))


class Constant(Schedule):
    """The initial LR throughout: 1, 1, 1, ..."""

    name = "constant"

    def factor(self, t: int) -> float:
        return 1.0


@dataclass
class Step(Schedule):
    """Multiply by ``gamma`` every ``every`` periods (default: a third of the horizon).

    ``Step(gamma=0.1, every=2)`` over 6 periods: 1, 1, 0.1, 0.1, 0.01, 0.01.
    """

    name = "step"
    gamma: float = 0.1
    every: int | None = None

    def factor(self, t: int) -> float:
        every = self.every or max(1, math.ceil(self.horizon / 3))
        return self.gamma ** (t // every)


@dataclass
class Exponential(Schedule):
    """Multiply by ``gamma`` each period; by default ``gamma`` reaches ``final`` in the last period.

    ``Exponential(final=0.01)`` over 3 periods: 1, 0.1, 0.01.
    """

    name = "exponential"
    gamma: float | None = None
    final: float = 0.01

    def factor(self, t: int) -> float:
        gamma = self.gamma or self.final ** (1 / max(self.horizon - 1, 1))
        return gamma**t


@dataclass
class Cosine(Schedule):
    """Cosine annealing over the horizon, as ``CosineAnnealingLR(T_max=horizon, eta_min=final × lr)``.

    Over 4 periods: 1, 0.854, 0.5, 0.146.
    """

    name = "cosine"
    final: float = 0.0

    def factor(self, t: int) -> float:
        return _cosine(t, self.horizon, self.final)


@dataclass
class WarmupCosine(Schedule):
    """Linear warm-up over the first ``warmup`` fraction of the horizon, then cosine.

    Over 10 periods with ``warmup=0.2``: 0.5, 1, then cosine over the last 8 (1, 0.962, ...).
    """

    name = "warmup-cosine"
    warmup: float = 0.1
    final: float = 0.0

    def factor(self, t: int) -> float:
        periods = max(1, round(self.warmup * self.horizon))
        if t < periods:
            return (t + 1) / periods
        return _cosine(t - periods, max(1, self.horizon - periods), self.final)


@dataclass
class ReduceOnPlateau(Schedule):
    """Multiply by ``gamma`` when the validation loss has not improved by ``threshold`` (relative)
    for ``patience`` periods, like ``torch.optim.lr_scheduler.ReduceLROnPlateau``.
    """

    name = "plateau"
    gamma: float = 0.5
    patience: int = 2
    threshold: float = 1e-3

    def start(self, horizon: int, initial_lr: float, probe: Probe | None = None) -> None:
        super().start(horizon, initial_lr, probe)
        self.scale, self.best, self.bad_periods = 1.0, math.inf, 0

    def observe(self, val_loss: float) -> None:
        if val_loss < self.best * (1 - self.threshold):
            self.best, self.bad_periods = val_loss, 0
            return
        self.bad_periods += 1
        if self.bad_periods > self.patience or not math.isfinite(val_loss):
            self.scale *= self.gamma
            self.bad_periods = 0

    def factor(self, t: int) -> float:
        return self.scale


@dataclass
class RangeTestCosine(Schedule):
    """The zero-tuning recipe: an LR range test from the initial weights, then cosine from the LR it found.

    The probe (see :func:`lr_range_test`) raises the LR exponentially over a
    short run, restores the weights, and suggests ``fraction`` × the LR at the
    smoothed loss minimum. The initial LR matters only through the probe's range
    (on the env: its LR bounds, by default 1e-3 to 1e3 × the initial LR).
    """

    name = "range-test-cosine"
    needs_probe: ClassVar[bool] = True
    final: float = 0.0

    def start(self, horizon: int, initial_lr: float, probe: Probe | None = None) -> None:
        super().start(horizon, initial_lr, probe)
        self.found_lr = float(probe())

    def factor(self, t: int) -> float:
        return self.found_lr / self.initial_lr * _cosine(t, self.horizon, self.final)


@dataclass(frozen=True)
class RangeTestResult:
    """What an LR range test saw: the LRs tried, their smoothed losses, and the LR it suggests.

    ``flat`` is True where ``flat_fallback`` found no fall of the loss beyond its noise, and
    ``best_lr`` is then the LR where the loss started to rise.
    """

    lrs: list[float]
    losses: list[float]
    best_lr: float
    suggested_lr: float
    flat: bool = False


def range_test_sweep(start_lr: float, span: tuple[float, float], num_steps: int) -> tuple[float, float]:
    """The LRs a controller's range test sweeps from ``start_lr``: ``span`` × ``start_lr``, shifted down
    onto a fixed grid of LRs (``num_steps - 1`` per ``span``, anchored at 1.0).

    Starts that differ by whole grid steps then try the same LRs, so where a run starts moves
    the test's answer only through its first steps. Starts a decade apart differ by whole steps
    only when a decade is a whole number of steps: 121 steps over 8 decades (15 a decade), not
    120 (14.875 a decade; its sweeps are only shifted by under a step).
    """
    low, high = span
    per_step = math.log10(high / low) / (num_steps - 1)  # decades per step
    snapped = 10 ** (math.floor(math.log10(start_lr * low) / per_step + 1e-6) * per_step)
    return snapped, snapped * high / low


MAX_RANGE_TEST_EXTEND = 10.0
"""The most decades a range test may go on past its sweep (``range_test_extend``)."""


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_decades(value: float, maximum: float, name: str) -> float:
    if not _is_real(value) or not 0 <= value <= maximum:  # also False for NaN
        raise ValueError(f"{name} must be 0 to {maximum:g} decades, got {value!r}")
    return value


def check_range_test_extend(extend: float, name: str = "range_test_extend") -> float:
    """``extend`` if it is 0 to :data:`MAX_RANGE_TEST_EXTEND` decades; a ``ValueError`` naming ``name`` if not."""
    return _check_decades(extend, MAX_RANGE_TEST_EXTEND, name)


def check_range_test_fraction(fraction: float, name: str = "range_test_fraction") -> float:
    """``fraction`` if it is in (0, 1]; a ``ValueError`` naming ``name`` if not."""
    if not _is_real(fraction) or not 0 < fraction <= 1:  # also False for NaN
        raise ValueError(f"{name} must be in (0, 1], got {fraction!r}")
    return fraction


ADAPTIVE_OPTIMIZERS = (torch.optim.RMSprop, torch.optim.Adagrad, torch.optim.Adadelta, torch.optim.Adafactor)
"""Adaptive optimizers without ``betas`` (see :func:`is_adaptive`)."""


def is_adaptive(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer`` divides each parameter's step by the running size of its gradients.

    Such a step is about the LR whatever the gradients' scale (unlike SGD's), so its best LR
    relates to a range test differently. True for the Adam family (torch's and any other
    library's optimizer whose defaults hold ``betas``), RMSprop, Adagrad, Adadelta and
    Adafactor, also inside a wrapper that keeps the optimizer as ``.optimizer`` (Accelerate's
    ``AcceleratedOptimizer``). Another library's adaptive optimizer without ``betas`` counts as
    SGD-like.
    """
    inner = getattr(optimizer, "optimizer", optimizer)
    return "betas" in optimizer.defaults or isinstance(inner, ADAPTIVE_OPTIMIZERS)


def range_test_fraction_for(
    optimizer: torch.optim.Optimizer, fraction: float, adaptive_fraction: float | None
) -> float:
    """``adaptive_fraction`` for an adaptive optimizer (:func:`is_adaptive`) when it is set,
    else ``fraction``: the share of the range test's loss-minimum LR a run starts from."""
    return adaptive_fraction if adaptive_fraction is not None and is_adaptive(optimizer) else fraction


def check_anneal_tail(tail: float, name: str = "anneal_tail") -> float:
    """``tail`` if it is a share of the budget in [0, 1]; a ``ValueError`` naming ``name`` if not."""
    if not _is_real(tail) or not 0 <= tail <= 1:  # also False for NaN
        raise ValueError(f"{name} must be a share of the budget in [0, 1], got {tail!r}")
    return tail


def anneal_factor(progress: float, tail: float) -> float:
    """The factor an anneal tail puts on the LR of a chunk that starts at ``progress`` (0 to 1)
    of the budget: 1 before the budget's last ``tail``, then a cosine from 1 toward 0 over it,
    as :class:`torch.optim.lr_scheduler.CosineAnnealingLR` over those epochs (``tail=1``: cosine
    over the whole run; 0: no tail)."""
    start = 1.0 - tail
    if tail <= 0 or progress <= start:
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * min(progress - start, tail) / tail))


MAX_ANCHOR_JITTER = 3.0
"""The most decades a training run's anchor may be moved either way (``anchor_jitter``)."""


def check_anchor_jitter(jitter: float, name: str = "anchor_jitter") -> float:
    """``jitter`` if it is 0 to :data:`MAX_ANCHOR_JITTER` decades; a ``ValueError`` naming ``name`` if not."""
    return _check_decades(jitter, MAX_ANCHOR_JITTER, name)


def range_test_limits(
    start_lr: float, span: tuple[float, float], num_steps: int, extend: float = 0.0
) -> tuple[float, float, float]:
    """A controller's range test from ``start_lr``: the sweep's first and last LR
    (:func:`range_test_sweep`) and the ceiling it may go on to, ``extend`` decades past the last.

    The environment and :class:`~lr_agent.scheduler.ControllerScheduler` both call this, so a
    controller meets in a user's loop the same sweep it trained with.
    """
    low, high = range_test_sweep(start_lr, span, num_steps)
    return low, high, high * 10 ** check_range_test_extend(extend)


def lr_range_test(
    train_step: Callable[[float], float],
    lr_min: float = 1e-6,
    lr_max: float = 1.0,
    num_steps: int = 100,
    fraction: float = 0.1,
    smoothing: float = 0.1,
    stop_factor: float = 4.0,
    lr_ceiling: float | None = None,
    flat_fallback: bool = False,
) -> RangeTestResult:
    """Raise the LR exponentially from ``lr_min`` to ``lr_max``, one optimizer step each.

    ``train_step(lr)`` runs one optimizer step at ``lr`` and returns its loss;
    the caller restores the weights afterwards. The loss is smoothed by an
    exponential moving average with bias correction (``smoothing``: the weight of
    the newest loss, in (0, 1]). The smoother's warm-up, its first
    ``ceil(1 / smoothing) - 1`` steps (9 by default; at most half the sweep), is
    left out of the minimum. The test stops early once the smoothed loss exceeds
    ``stop_factor`` × that minimum or turns non-finite. Suggests ``fraction`` ×
    the LR at the minimum, and never less than ``lr_min``.

    With ``lr_ceiling`` above ``lr_max``, a sweep that reaches ``lr_max`` with the
    smoothed loss still falling goes on at the same rate, at most up to
    ``lr_ceiling``, for as long as each step lowers the smoothed loss: a start far
    below the right LR then still finds where the loss bottoms out.

    With ``flat_fallback``, a sweep whose smoothed loss never falls below the mean of
    the warm-up's raw losses (taken at LRs too small to train) by more than twice their
    spread (standard deviation) has found nothing but noise: a plateau. Its minimum is
    then ignored, and the test suggests ``fraction`` × the first LR where the smoothed
    loss rises above that mean by twice the spread (the last LR swept where it never does).
    """
    if not 0 < lr_min < lr_max:
        raise ValueError(f"need 0 < lr_min < lr_max, got lr_min={lr_min!r}, lr_max={lr_max!r}")
    if num_steps < 2:
        raise ValueError(f"num_steps must be at least 2, got {num_steps!r}")
    if lr_ceiling is not None and not 0 < lr_ceiling < math.inf:  # also catches NaN
        raise ValueError(f"lr_ceiling must be a positive finite LR or None, got {lr_ceiling!r}")
    if not 0 < smoothing <= 1:
        raise ValueError(f"smoothing must be in (0, 1], got {smoothing!r}")
    check_range_test_fraction(fraction, "fraction")
    ratio = (lr_max / lr_min) ** (1 / (num_steps - 1))
    extra_steps = 0
    if lr_ceiling is not None and lr_ceiling > lr_max:
        extra_steps = math.floor(math.log(lr_ceiling / lr_max) / math.log(ratio) + 1e-9)
    # The first smoothed losses average few batches: a lucky one would stay the minimum through a
    # flat start (a plateau) and anchor the run at the bottom of the sweep. So the minimum (and the
    # stop test that uses it) counts only the steps after the smoother's warm-up.
    warmup = min(math.ceil(1 / smoothing) - 1, (num_steps - 1) // 2)
    lrs: list[float] = []
    losses: list[float] = []
    raw: list[float] = []
    smoothed = 0.0
    for i in range(num_steps + extra_steps):
        if i >= num_steps and losses[-1] >= min(losses[warmup:-1]):
            break  # past lr_max only while each step sets a new low of the smoothed loss
        lr = lr_min * ratio**i
        loss = train_step(lr)
        if not math.isfinite(loss):
            break
        # a moving average from zero divided by its total weight (bias-corrected), as one update
        weight = smoothing / (1 - (1 - smoothing) ** (len(losses) + 1)) if losses else 1.0
        smoothed += (loss - smoothed) * weight
        lrs.append(lr)
        losses.append(smoothed)
        raw.append(loss)
        if len(losses) > warmup and smoothed > stop_factor * min(losses[warmup:]):
            break
    if not losses:
        return RangeTestResult([], [], lr_min, lr_min)
    start = warmup if len(losses) > warmup else 0  # a sweep cut short by a non-finite loss: all of it
    considered = losses[start:]
    best = lrs[start + considered.index(min(considered))]
    if flat_fallback and warmup >= 2 and len(losses) > warmup + 1:
        level, margin = statistics.fmean(raw[:warmup]), 2 * statistics.pstdev(raw[:warmup])
        if level - min(considered) <= margin:
            rises = (lr for lr, loss in zip(lrs[warmup:], considered, strict=True) if loss > level + margin)
            best = next(rises, lrs[-1])
            return RangeTestResult(lrs, losses, best, max(lr_min, best * fraction), flat=True)
    return RangeTestResult(lrs, losses, best, max(lr_min, best * fraction))


SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls for cls in (Constant, Step, Exponential, Cosine, WarmupCosine, ReduceOnPlateau, RangeTestCosine)
}
"""Every baseline schedule, by the name the CLI and configs use."""


def make_schedule(name: str, **kwargs: Any) -> Schedule:
    """A schedule by name (``"cosine"``), with its settings as keyword arguments."""
    if name not in SCHEDULES:
        raise UnknownNameError("schedule", name, list(SCHEDULES))
    return SCHEDULES[name](**kwargs)


class ScheduleLR(torch.optim.lr_scheduler.LRScheduler):
    """Any :class:`Schedule` as a torch LR scheduler; call ``step(val_loss=...)`` once per epoch.

    Every param group keeps its own base LR, multiplied by the schedule's
    factor. ``probe`` is needed by :class:`RangeTestCosine` only.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedule: Schedule,
        total_epochs: int,
        probe: Probe | None = None,
        last_epoch: int = -1,
    ) -> None:
        self.schedule = schedule
        schedule.start(total_epochs, optimizer.param_groups[0]["lr"], probe)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t = min(max(self.last_epoch, 0), self.schedule.horizon - 1)
        factor = self.schedule.factor(t)
        return [base * factor for base in self.base_lrs]

    def step(self, val_loss: float | None = None) -> None:  # type: ignore[override]
        """End an epoch: pass its validation loss (needed by ``plateau``), move to the next LR."""
        if val_loss is not None:
            self.schedule.observe(float(val_loss))
        super().step()

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in vars(self).items() if k not in ("optimizer", "schedule")}
        state["schedule"] = self.schedule.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        self.schedule.load_state_dict(state.pop("schedule"))
        vars(self).update(state)
