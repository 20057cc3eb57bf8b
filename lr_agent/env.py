"""``TrainingRunEnv``: one neural-network training run as a Gymnasium environment.

Each step trains one epoch (or ``steps_per_action`` optimizer steps) at the LR
the action picks, then evaluates on the validation split.

**Actions.** ``action_mode="discrete"``: an index into ``multipliers`` (the LR
is multiplied by that factor; 1.0 keeps it). ``action_mode="continuous"``: one
number ``a`` in ``[-1, 1]``, the LR is multiplied by ``10 ** (a * max_log10_step)``.
The LR is then clipped to the run's ``lr_bounds``; every param group moves by the
same factor, so their ratios stay.

**Observation.** The task-agnostic features of :mod:`lr_agent.observation`.

**Reward.** ``ln(previous val loss / val loss)`` each step, starting from the
validation loss of the untrained model. Undiscounted, the episode's return is
``ln(initial val loss / final val loss)``: the quality the run *ends* with, not
the sum of greedy drops (a step that raises the loss is paid back only if a later
one more than recovers it). A non-finite loss ends the episode
(``terminated=True``) with a reward that brings the return to
``-divergence_penalty``, whatever came before.

**Episode end.** ``truncated=True`` when the optimizer-step budget
(``epochs × steps per epoch``) is spent.

``info`` holds the raw figures: ``train_loss``, ``val_loss``, ``val_accuracy``
(None for regression), ``lr``, ``epoch`` (epochs done, fractional when chunks are
smaller than an epoch), ``step`` (optimizer steps done), ``probe_steps`` (optimizer steps spent in
LR range tests and scale probes, outside the budget) and ``diverged``.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch

from lr_agent.observation import CLIP, FEATURES, ObservationTracker
from lr_agent.scale_probe import (
    ScaleProbeResult,
    candidate_lr_factor,
    check_scale_probe_anneal,
    check_scale_probe_climb,
    check_scale_probe_decades,
    check_scale_probe_epochs,
    check_scale_probe_fraction,
    check_scale_probe_hold,
    check_scale_probe_walk,
    check_scale_probe_width,
    grid_scale_probe,
    probe_epochs_per_candidate,
    probe_steps_per_candidate,
)
from lr_agent.schedules import (
    anneal_factor,
    check_anchor_jitter,
    check_anneal_tail,
    check_range_test_extend,
    check_range_test_fraction,
    lr_range_test,
    range_test_fraction_for,
    range_test_limits,
)
from lr_agent.specs import WorkloadSpec, get_spec
from lr_agent.workloads import SupervisedWorkload, Workload

DEFAULT_MULTIPLIERS = (0.1, 0.5, 0.8, 1.0, 1.25, 2.0, 10.0)
"""The discrete action set: factors applied to the LR."""

WorkloadFactory = Callable[[np.random.Generator], Workload]
"""Builds a fresh :class:`~lr_agent.workloads.Workload` from the env's seeded generator."""


@contextlib.contextmanager
def _candidate_lrs(
    optimizer: torch.optim.Optimizer, group_lrs: list[float], steps: int, anneal: bool, hold: float = 0.0
) -> Iterator[None]:
    """Inside, the ``i``-th optimizer step taken runs at ``group_lrs`` × ``candidate_lr_factor(i, steps,
    anneal, hold)`` (the last factor past ``steps``), so that a workload can train many steps in one call.

    Step hooks set the LRs; a ``step()`` that calls its parent class's counts once, and a step an
    AMP scaler skips is not counted.
    """
    taken = depth = 0

    def set_lrs(step: int) -> None:
        factor = candidate_lr_factor(min(step, steps - 1), steps, anneal, hold)
        for group, lr in zip(optimizer.param_groups, group_lrs, strict=True):
            group["lr"] = lr * factor

    def before_step(_optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        nonlocal depth
        if depth == 0:
            set_lrs(taken)
        depth += 1

    def after_step(_optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        nonlocal depth, taken
        depth -= 1
        if depth == 0:
            taken += 1

    set_lrs(0)
    handles = [optimizer.register_step_pre_hook(before_step), optimizer.register_step_post_hook(after_step)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


class TrainingRunEnv(gym.Env):
    """A training run whose LR an agent sets, one chunk of training per step.

    Args:
        workload: a catalogue name (``"digits-mlp"``), a path to a spec file, a
            :class:`~lr_agent.specs.WorkloadSpec`, a list of these (each episode
            draws one of them uniformly), or a function that builds a
            :class:`~lr_agent.workloads.Workload` from a numpy ``Generator``.
        action_mode: ``"discrete"`` (multipliers) or ``"continuous"`` (log-scale factor).
        multipliers: the discrete action set; must contain 1.0.
        max_log10_step: decades the LR may move per step in continuous mode.
        divergence_penalty: the episode return of a run whose loss became non-finite.
        device: where the run trains (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        relative_lr_bounds: ``(low, high)`` factors on each run's initial LR that
            replace the spec's absolute ``lr_bounds``; controllers are trained and
            deployed this way, since a user's job has no spec.
        max_epochs: a cap on each drawn run's epoch budget (None: no cap).
        range_test_steps: when positive, every episode starts with an LR range test
            of that many optimizer steps over ``range_test_span`` (weights restored after;
            the steps are counted in ``probe_steps``, not in the budget). The LR it
            suggests becomes the run's *anchor*: the LR of the first decision, the
            reference of the observation's LR features and, with
            ``relative_lr_bounds``, of the bounds. So the agent learns the schedule's
            shape relative to a scale the probe found; the initial LR matters only
            through the span the test sweeps.
        range_test_fraction: the test suggests this fraction of the LR at its loss minimum.
        range_test_span: the LRs the test sweeps, as factors on the initial LR, moved
            down onto a fixed grid of LRs (:func:`~lr_agent.schedules.range_test_sweep`).
        range_test_extend: decades (0 to 10) the test may go on past its span while the
            loss still falls (so a start far below the right LR still finds it); 0: never.
        range_test_flat_fallback: where the test's loss never falls by more than its noise (a
            plateau), suggest a fraction of the LR where the loss starts to rise, not of its
            noisy minimum (see :func:`~lr_agent.schedules.lr_range_test`).
        range_test_adaptive_fraction: the fraction the test suggests for a run whose optimizer
            is adaptive (:func:`~lr_agent.schedules.is_adaptive`: Adam, RMSprop, Adagrad and
            their kin); None: ``range_test_fraction`` for every optimizer.
        anchor_jitter: decades (0 to 3); when positive, every episode's anchor (the range
            test's suggestion, else the initial LR) is multiplied by ``10**u``, ``u`` drawn
            uniformly from ``[-anchor_jitter, anchor_jitter]`` with the env's generator, and
            kept within the run's LR bounds. A training device: an agent that meets anchors
            off in either direction can learn to correct a scale the probe got wrong. 0 (the
            default) draws nothing.
        anneal_tail: a share of the budget (0 to 1); over its last ``anneal_tail``, the run
            trains at the LR the agent picks times a cosine from 1 toward 0
            (:func:`~lr_agent.schedules.anneal_factor`), while the agent's observation and its
            next move start from the LR it picked. ``info["lr"]`` is the LR the run trained at.
            0 (the default): no tail.
        scale_probe_epochs: when positive, every episode checks its anchor (the range test's
            suggestion, else the initial LR) with a scale probe (:mod:`lr_agent.scale_probe`):
            the anchor snapped to the grid of LRs ``10 ** (k * scale_probe_decades)`` and the
            grid LRs either side each train this many epochs at a constant LR (annealed with
            ``scale_probe_anneal``) from the same weights and batches (restored after each; the
            steps count in ``probe_steps``), and the one with the lowest validation loss becomes
            the anchor. 0 (the default): no probe.
        scale_probe_decades: the probe's grid spacing, in decades (0.5: 1e-3, 3.16e-3, 1e-2...).
        scale_probe_width: how many grid LRs either side of the anchor the probe tries (1 to 3).
        scale_probe_fraction: a share of the run's epochs (0 to under 1) that each candidate
            trains when longer than ``scale_probe_epochs``.
        scale_probe_anneal: each candidate's LR falls along a cosine to zero over its steps
            instead of staying constant.
        scale_probe_hold: with ``scale_probe_anneal``, the share of each candidate's steps (0 to
            under 1) at its LR before the cosine starts, so that the candidate is judged as a
            run that holds its LR a while, as the agents' runs do (0, the default: the cosine
            starts at once).
        scale_probe_walk: while the best candidate is the lowest or the highest tried, the next
            grid LR that way trains too, up to this many more (0 to 4; 0, the default: no walk).
        scale_probe_climb: after the walk, while the best candidate is the highest tried and the
            loss fell at every higher LR, the next grid LR up trains too, or a decade up while the
            best has lowered the loss less than 5% from the starting loss, up to this many more
            (0 to 6; 0, the default: no climb). Width, fraction, anneal, hold, walk and climb need
            a probe.
        overrides: run settings fixed for every episode (``lr=0.01``, ``epochs=20``);
            ``reset(options=...)`` can fix them for one episode.

    Example:
        >>> import gymnasium as gym, lr_agent
        >>> env = gym.make("lr_agent/wine-mlp-v0", epochs=3)
        >>> obs, info = env.reset(seed=0)
        >>> obs, reward, terminated, truncated, info = env.step(3)  # x1.0: keep the LR
        >>> sorted(info)[:3]
        ['diverged', 'epoch', 'lr']
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        workload: str | WorkloadSpec | Sequence[str | WorkloadSpec] | WorkloadFactory = "digits-mlp",
        action_mode: str = "discrete",
        multipliers: Sequence[float] = DEFAULT_MULTIPLIERS,
        max_log10_step: float = 1.0,
        divergence_penalty: float = 5.0,
        device: str | torch.device = "cpu",
        relative_lr_bounds: tuple[float, float] | None = None,
        max_epochs: int | None = None,
        range_test_steps: int = 0,
        range_test_fraction: float = 0.1,
        range_test_span: tuple[float, float] = (1e-4, 1e4),
        range_test_extend: float = 0.0,
        range_test_flat_fallback: bool = False,
        range_test_adaptive_fraction: float | None = None,
        anchor_jitter: float = 0.0,
        anneal_tail: float = 0.0,
        scale_probe_epochs: float = 0.0,
        scale_probe_decades: float = 0.5,
        scale_probe_width: int = 1,
        scale_probe_fraction: float = 0.0,
        scale_probe_anneal: bool = False,
        scale_probe_hold: float = 0.0,
        scale_probe_walk: int = 0,
        scale_probe_climb: int = 0,
        **overrides: Any,
    ) -> None:
        if callable(workload) and not isinstance(workload, WorkloadSpec):
            self.specs, self.factory = (), workload
        elif isinstance(workload, str | os.PathLike | WorkloadSpec):
            self.specs, self.factory = (get_spec(workload),), None
        else:
            self.specs, self.factory = tuple(get_spec(w) for w in workload), None
            if not self.specs:
                raise ValueError("workload: an empty list of specs")
        if action_mode == "discrete":
            if 1.0 not in multipliers or any(m <= 0 for m in multipliers):
                raise ValueError(f"multipliers must be positive and contain 1.0, got {tuple(multipliers)!r}")
            self.action_space = gym.spaces.Discrete(len(multipliers))
        elif action_mode == "continuous":
            if max_log10_step <= 0:
                raise ValueError(f"max_log10_step must be positive, got {max_log10_step!r}")
            self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        else:
            raise ValueError(f"action_mode must be 'discrete' or 'continuous', got {action_mode!r}")
        self.observation_space = gym.spaces.Box(-CLIP, CLIP, (len(FEATURES),), np.float32)
        self.action_mode = action_mode
        self.multipliers = tuple(float(m) for m in multipliers)
        self.max_log10_step = max_log10_step
        self.divergence_penalty = divergence_penalty
        self.device = device
        self.overrides = overrides
        if relative_lr_bounds is not None and not 0 < relative_lr_bounds[0] <= 1 <= relative_lr_bounds[1]:
            raise ValueError(
                f"relative_lr_bounds must be (low, high) with 0 < low <= 1 <= high, got {relative_lr_bounds!r}"
            )
        self.relative_lr_bounds = relative_lr_bounds
        self.max_epochs = max_epochs
        if range_test_steps == 1 or range_test_steps < 0:
            raise ValueError(f"range_test_steps must be 0 (no test) or at least 2, got {range_test_steps!r}")
        check_range_test_fraction(range_test_fraction)
        if len(range_test_span) != 2 or not 0 < range_test_span[0] < range_test_span[1] < math.inf:
            raise ValueError(f"range_test_span must be (low, high) with 0 < low < high, got {range_test_span!r}")
        check_range_test_extend(range_test_extend)
        self.anchor_jitter = float(check_anchor_jitter(anchor_jitter))
        self.range_test_steps, self.range_test_fraction = range_test_steps, range_test_fraction
        self.range_test_span = tuple(range_test_span)
        self.range_test_extend = range_test_extend
        if not isinstance(range_test_flat_fallback, bool):
            raise ValueError(f"range_test_flat_fallback must be True or False, got {range_test_flat_fallback!r}")
        self.range_test_flat_fallback = range_test_flat_fallback
        if range_test_adaptive_fraction is not None:
            check_range_test_fraction(range_test_adaptive_fraction, "range_test_adaptive_fraction")
        self.range_test_adaptive_fraction = range_test_adaptive_fraction
        self.anneal_tail = check_anneal_tail(anneal_tail)
        self.scale_probe_epochs = check_scale_probe_epochs(scale_probe_epochs)
        self.scale_probe_decades = check_scale_probe_decades(scale_probe_decades)
        self.scale_probe_width = check_scale_probe_width(scale_probe_width)
        self.scale_probe_fraction = check_scale_probe_fraction(scale_probe_fraction)
        self.scale_probe_anneal = check_scale_probe_anneal(scale_probe_anneal)
        self.scale_probe_hold = check_scale_probe_hold(scale_probe_hold)
        if self.scale_probe_hold and not scale_probe_anneal:
            raise ValueError(
                f"scale_probe_hold={scale_probe_hold!r} needs scale_probe_anneal=True (the held share of an annealed "
                "candidate's steps); set both, or scale_probe_hold=0"
            )
        self.scale_probe_walk = check_scale_probe_walk(scale_probe_walk)
        self.scale_probe_climb = check_scale_probe_climb(scale_probe_climb)
        if not scale_probe_epochs and (
            self.scale_probe_width != 1
            or self.scale_probe_fraction
            or scale_probe_anneal
            or self.scale_probe_hold
            or self.scale_probe_walk
            or self.scale_probe_climb
        ):
            raise ValueError(
                "scale_probe_width, scale_probe_fraction, scale_probe_anneal, scale_probe_hold, scale_probe_walk "
                "and scale_probe_climb need a probe (scale_probe_epochs is 0)"
            )
        self.scale_probe_result: ScaleProbeResult | None = None  # what the episode's probe saw
        self.workload: Workload | None = None
        self.workload_spec: WorkloadSpec | None = self.specs[0] if self.specs else None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start a fresh run drawn from the spec; ``options`` override drawn settings for this episode."""
        super().reset(seed=seed)
        if self.factory is not None:
            self.config = None
            self.workload = self.factory(self.np_random)
        else:
            self.workload_spec = self.specs[int(self.np_random.integers(len(self.specs)))]
            self.config = self.workload_spec.sample(self.np_random, **{**self.overrides, **(options or {})})
            if self.max_epochs is not None and self.config.epochs > self.max_epochs:
                self.config = dataclasses.replace(self.config, epochs=self.max_epochs)
            run_seed = int(self.np_random.integers(2**31 - 1))
            self.workload = SupervisedWorkload(self.config, run_seed, self.device)
        workload = self.workload
        groups = workload.optimizer.param_groups
        self.initial_lr = float(groups[0]["lr"])
        self.group_scales = [g["lr"] / self.initial_lr for g in groups]
        chunk = getattr(self.config, "steps_per_action", 0) or workload.steps_per_epoch
        self.steps_per_action = chunk
        self.total_steps = workload.epochs * workload.steps_per_epoch
        self.steps_done = 0
        self.probe_steps = 0
        self.lr_bounds = self._bounds_around(self.initial_lr)
        self.anchor_lr = self.initial_lr
        if self.range_test_steps:
            low, high, ceiling = range_test_limits(
                self.initial_lr, self.range_test_span, self.range_test_steps, self.range_test_extend
            )
            fraction = range_test_fraction_for(
                workload.optimizer, self.range_test_fraction, self.range_test_adaptive_fraction
            )
            self.anchor_lr = self.lr_range_test(
                self.range_test_steps, fraction, (low, high), ceiling, self.range_test_flat_fallback
            )
            self.lr_bounds = self._bounds_around(self.anchor_lr)
        self.scale_probe_result = None
        if self.scale_probe_epochs:
            self.scale_probe_result = self.scale_probe(self.anchor_lr)
            self.anchor_lr = self.scale_probe_result.best_lr
            self.lr_bounds = self._bounds_around(self.anchor_lr)
        if self.anchor_jitter:
            low, high = self.lr_bounds
            jittered = self.anchor_lr * 10.0 ** self.np_random.uniform(-self.anchor_jitter, self.anchor_jitter)
            self.anchor_lr = min(max(jittered, low), high)
            self.lr_bounds = self._bounds_around(self.anchor_lr)
        self.tracker = ObservationTracker(self.anchor_lr, self.lr_bounds)
        self.initial_val_loss = self.previous_val_loss = workload.evaluate().loss
        info = {"lr": self.anchor_lr, "epoch": 0.0, "step": 0, "val_loss": self.initial_val_loss}
        info["probe_steps"] = self.probe_steps
        if self.config is not None:
            info["workload"] = self.workload_spec.name
            info["run"] = dataclasses.asdict(self.config)
        return self.tracker.observation(), info

    def _bounds_around(self, lr: float) -> tuple[float, float]:
        if self.relative_lr_bounds is None:
            return tuple(self.workload.lr_bounds)
        return lr * self.relative_lr_bounds[0], lr * self.relative_lr_bounds[1]

    @property
    def lr(self) -> float:
        """The LR of the first param group now."""
        return self.tracker.lr

    def action_to_lr(self, action: Any) -> float:
        """The LR an action asks for, before clipping to the bounds."""
        if self.action_mode == "discrete":
            return self.lr * self.multipliers[int(np.asarray(action).item())]
        a = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
        return self.lr * 10.0 ** (a * self.max_log10_step)

    def step(self, action: Any):
        """Apply the action's LR change, train one chunk, evaluate."""
        if self.workload is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        return self.step_lr(self.action_to_lr(action))

    def step_lr(self, lr: float):
        """Train one chunk at an absolute LR (clipped to the bounds); how baseline schedules drive the env."""
        if self.workload is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        low, high = self.lr_bounds
        lr = float(min(max(lr, low), high))
        trained_lr = lr * anneal_factor(self.steps_done / self.total_steps, self.anneal_tail)
        for group, scale in zip(self.workload.optimizer.param_groups, self.group_scales, strict=True):
            group["lr"] = trained_lr * scale
        steps = min(self.steps_per_action, self.total_steps - self.steps_done)
        train_loss = self.workload.train(steps)
        self.steps_done += steps
        evaluation = self.workload.evaluate()
        val_loss = evaluation.loss
        obs = self.tracker.update(lr, self.steps_done / self.total_steps, train_loss, val_loss)
        diverged = not (math.isfinite(train_loss) and math.isfinite(val_loss))
        floor = 1e-12
        if diverged:
            # Bring the return to -penalty: undo what was earned, then pay the penalty.
            reward = math.log(max(self.previous_val_loss, floor) / max(self.initial_val_loss, floor))
            reward -= self.divergence_penalty
        else:
            reward = math.log(max(self.previous_val_loss, floor) / max(val_loss, floor))
            self.previous_val_loss = val_loss
        info = {
            "train_loss": train_loss,
            "val_loss": val_loss,
            "val_accuracy": evaluation.accuracy,
            "lr": trained_lr,
            "epoch": self.steps_done / self.workload.steps_per_epoch,
            "step": self.steps_done,
            "probe_steps": self.probe_steps,
            "diverged": diverged,
        }
        truncated = not diverged and self.steps_done >= self.total_steps
        return obs, float(reward), diverged, truncated, info

    def lr_range_test(
        self,
        num_steps: int = 100,
        fraction: float = 0.1,
        span: tuple[float, float] | None = None,
        lr_ceiling: float | None = None,
        flat_fallback: bool = False,
    ) -> float:
        """Run an LR range test from the current weights, restore them, and return the suggested LR.

        ``span``: the absolute LRs swept (default: the run's LR bounds); ``lr_ceiling``:
        how far past it the sweep may go on while the loss still falls (default: not at all);
        ``flat_fallback``: on a plateau, suggest from where the loss starts to rise.

        The probe's optimizer steps are not charged to the episode's budget;
        ``probe_steps`` counts them. See :func:`lr_agent.schedules.lr_range_test`.
        """
        if self.workload is None:
            raise gym.error.ResetNeeded("call reset() before lr_range_test()")
        workload = self.workload
        saved = copy.deepcopy(workload.state_dict())
        groups = workload.optimizer.param_groups

        def train_step(lr: float) -> float:
            for group, scale in zip(groups, self.group_scales, strict=True):
                group["lr"] = lr * scale
            return workload.train(1)

        low, high = span or self.lr_bounds
        result = lr_range_test(
            train_step, low, high, num_steps, fraction, lr_ceiling=lr_ceiling, flat_fallback=flat_fallback
        )
        workload.load_state_dict(saved)
        self.probe_steps += len(result.lrs)
        return result.suggested_lr

    def scale_probe(self, anchor: float, epochs: float | None = None) -> ScaleProbeResult:
        """Probe the LR's scale around ``anchor`` from the current weights, then restore them.

        Each candidate (:func:`~lr_agent.scale_probe.scale_probe_candidates`, within the run's LR
        bounds) trains ``epochs`` (default: ``scale_probe_epochs``, or ``scale_probe_fraction`` of the
        run's epochs when longer; an ``epochs`` given is used as it is) at a constant LR (or, with
        ``scale_probe_anneal``, one falling along a cosine to zero, after ``scale_probe_hold`` of
        its steps) from the same weights, optimizer
        state and batches, and is scored by the validation loss; with ``scale_probe_walk``, the
        probe goes on past the best candidate when it is the lowest or highest tried, and with
        ``scale_probe_climb`` upward while the loss falls at every higher LR. The steps are
        not charged to the episode's budget; ``probe_steps`` counts them.
        """
        if self.workload is None:
            raise gym.error.ResetNeeded("call reset() before scale_probe()")
        workload = self.workload
        if epochs is None:
            epochs = probe_epochs_per_candidate(self.scale_probe_epochs, self.scale_probe_fraction, workload.epochs)
        else:
            check_scale_probe_epochs(epochs, "epochs")
        if not epochs:
            raise ValueError("scale_probe() needs epochs > 0 (this env's scale_probe_epochs is 0)")
        steps = probe_steps_per_candidate(epochs, workload.steps_per_epoch)
        saved = copy.deepcopy(workload.state_dict())

        def short_run(lr: float) -> float:
            workload.load_state_dict(copy.deepcopy(saved))  # a fresh copy: the optimizer keeps its tensors
            self.probe_steps += steps
            group_lrs = [lr * scale for scale in self.group_scales]
            with _candidate_lrs(workload.optimizer, group_lrs, steps, self.scale_probe_anneal, self.scale_probe_hold):
                # an epoch a call: a host sync per epoch on a GPU, not per step, and a stop at divergence
                for done in range(0, steps, workload.steps_per_epoch):
                    if not math.isfinite(workload.train(min(workload.steps_per_epoch, steps - done))):
                        return math.inf
            return workload.evaluate().loss

        def start_loss() -> float:
            workload.load_state_dict(copy.deepcopy(saved))
            return workload.evaluate().loss

        result = grid_scale_probe(
            short_run,
            anchor,
            decades=self.scale_probe_decades,
            bounds=self.lr_bounds,
            width=self.scale_probe_width,
            walk=self.scale_probe_walk,
            climb=self.scale_probe_climb,
            start_loss=start_loss,
        )
        workload.load_state_dict(saved)
        return result

    def state_dict(self) -> dict[str, Any]:
        """A snapshot of the episode in progress: the run, the tracker, the counters and the env's RNG."""
        if self.workload is None:
            raise gym.error.ResetNeeded("call reset() before state_dict()")
        return {
            "workload": copy.deepcopy(self.workload.state_dict()),
            "anchor_lr": self.anchor_lr,
            "lr_bounds": list(self.lr_bounds),
            "tracker": self.tracker.state_dict(),
            "steps_done": self.steps_done,
            "probe_steps": self.probe_steps,
            "initial_val_loss": self.initial_val_loss,
            "previous_val_loss": self.previous_val_loss,
            "np_random": self.np_random.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume an episode saved by :meth:`state_dict`, after ``reset`` with the same seed."""
        if self.workload is None:
            raise gym.error.ResetNeeded("call reset(seed=...) with the saved episode's seed first")
        self.workload.load_state_dict(state["workload"])
        self.anchor_lr, self.lr_bounds = state["anchor_lr"], tuple(state["lr_bounds"])
        self.tracker = ObservationTracker(self.anchor_lr, self.lr_bounds)
        self.tracker.load_state_dict(state["tracker"])
        self.steps_done = state["steps_done"]
        self.probe_steps = state["probe_steps"]
        self.initial_val_loss = state["initial_val_loss"]
        self.previous_val_loss = state["previous_val_loss"]
        self.np_random.bit_generator.state = state["np_random"]
