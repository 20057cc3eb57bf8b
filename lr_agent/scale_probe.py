"""The scale probe: pick a run's LR among a few candidates by short runs from the same weights.

An LR range test reads the LR's scale off one sweep, and on new jobs it is often wrong by half a
decade or more (``experiments/NOTES.md``, entry 14). The probe checks it: the candidates are the
test's suggestion snapped to a fixed grid of LRs (``10 ** (k * decades)``: with ``decades=0.5``,
1e-3, 3.16e-3, 1e-2, ...) and the grid LRs either side of it; each trains for a short while at a
constant LR (or an annealed one, below) from the same weights (restored after each), and the one
with the lowest validation loss wins. A wider probe (``width``) tries more grid LRs either side;
a longer one trains each candidate for a share of the run's budget (``fraction``), since a short
run favours large LRs.
An annealed probe (``anneal``) lowers each candidate's LR along a cosine to zero over its steps,
so that it is judged as a run that ends annealed, as the controller's runs do, rather than by
the noise a constant LR leaves; a held one (``hold``) keeps the LR for that share of the steps
first, so that it is judged as a run that stays at its LR a while, as the controller's runs do
before their tail (a high LR that breaks the model shows it there).
A walking probe (``walk``) goes on past the candidates while the best one is the lowest or the
highest tried: the next grid LR that way trains too, up to ``walk`` more, so that an anchor
that is off by more than the probe's width can still reach the LR the run wants.
A climbing probe (``climb``) goes on upward after that where the range test fell far short: while
the best LR is the highest tried and the loss fell at every higher LR tried, it tries the next grid
LR up, or a whole decade up while the best has lowered the loss less than
:data:`CLIMB_BARELY_MOVED` from the probe's starting loss (it learned next to nothing), up to
``climb`` more LRs in all. Where the losses do not fall at every higher LR (candidates that
learned nothing end near the starting loss in no order: no slope to follow), it does not start.
:class:`~lr_agent.env.TrainingRunEnv` and
:class:`~lr_agent.scheduler.ControllerScheduler` both run it through :func:`grid_scale_probe`.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

MAX_SCALE_PROBE_EPOCHS = 10.0
"""The most ``scale_probe_epochs`` may be (a ``scale_probe_fraction`` of a long run may train a
candidate longer: up to that share of the run, for each of ``2 * width + 1`` candidates, up to
``walk`` more and up to ``climb`` more)."""


def check_scale_probe_epochs(epochs: float, name: str = "scale_probe_epochs") -> float:
    """``epochs`` if it is 0 (no probe) to :data:`MAX_SCALE_PROBE_EPOCHS`; a ``ValueError`` naming ``name`` if not."""
    real = isinstance(epochs, numbers.Real) and not isinstance(epochs, bool)
    if not real or not 0 <= epochs <= MAX_SCALE_PROBE_EPOCHS:  # also False for NaN
        raise ValueError(f"{name} must be 0 (no probe) to {MAX_SCALE_PROBE_EPOCHS:g} epochs, got {epochs!r}")
    return epochs


def check_scale_probe_decades(decades: float, name: str = "scale_probe_decades") -> float:
    """``decades`` if it is in (0, 3]; a ``ValueError`` naming ``name`` if not."""
    real = isinstance(decades, numbers.Real) and not isinstance(decades, bool)
    if not real or not 0 < decades <= 3:  # also False for NaN
        raise ValueError(f"{name} must be in (0, 3] decades, got {decades!r}")
    return decades


def check_scale_probe_width(width: int, name: str = "scale_probe_width") -> int:
    """``width`` if it is 1 to 3 (grid LRs either side of the anchor); a ``ValueError`` naming ``name`` if not."""
    if isinstance(width, bool) or not isinstance(width, numbers.Integral) or not 1 <= width <= 3:
        raise ValueError(f"{name} must be 1, 2 or 3 grid LRs either side, got {width!r}")
    return int(width)


def check_scale_probe_fraction(fraction: float, name: str = "scale_probe_fraction") -> float:
    """``fraction`` if it is in [0, 1) of the run's budget; a ``ValueError`` naming ``name`` if not."""
    real = isinstance(fraction, numbers.Real) and not isinstance(fraction, bool)
    if not real or not 0 <= fraction < 1:  # also False for NaN
        raise ValueError(f"{name} must be in [0, 1) of the run's epochs, got {fraction!r}")
    return fraction


def check_scale_probe_anneal(anneal: bool, name: str = "scale_probe_anneal") -> bool:
    """``anneal`` if it is True or False; a ``ValueError`` naming ``name`` if not."""
    if not isinstance(anneal, bool):
        raise ValueError(f"{name} must be True or False, got {anneal!r}")
    return anneal


def check_scale_probe_hold(hold: float, name: str = "scale_probe_hold") -> float:
    """``hold`` if it is in [0, 1) of a candidate's steps; a ``ValueError`` naming ``name`` if not."""
    real = isinstance(hold, numbers.Real) and not isinstance(hold, bool)
    if not real or not 0 <= hold < 1:  # also False for NaN
        raise ValueError(f"{name} must be in [0, 1) of a candidate's steps, got {hold!r}")
    return hold


MAX_SCALE_PROBE_WALK = 4
"""The most grid LRs a walking probe may add past its candidates."""


def check_scale_probe_walk(walk: int, name: str = "scale_probe_walk") -> int:
    """``walk`` if it is 0 (no walk) to :data:`MAX_SCALE_PROBE_WALK`; a ``ValueError`` naming ``name`` if not."""
    if isinstance(walk, bool) or not isinstance(walk, numbers.Integral) or not 0 <= walk <= MAX_SCALE_PROBE_WALK:
        raise ValueError(f"{name} must be 0 (no walk) to {MAX_SCALE_PROBE_WALK} more grid LRs, got {walk!r}")
    return int(walk)


MAX_SCALE_PROBE_CLIMB = 6
"""The most LRs a climbing probe may add above the walk's."""

CLIMB_BARELY_MOVED = 0.05
"""A climbing probe steps by whole decades while its best candidate's loss is less than this
share below the probe's starting loss."""


def check_scale_probe_climb(climb: int, name: str = "scale_probe_climb") -> int:
    """``climb`` if it is 0 (no climb) to :data:`MAX_SCALE_PROBE_CLIMB`; a ``ValueError`` naming ``name`` if not."""
    if isinstance(climb, bool) or not isinstance(climb, numbers.Integral) or not 0 <= climb <= MAX_SCALE_PROBE_CLIMB:
        raise ValueError(f"{name} must be 0 (no climb) to {MAX_SCALE_PROBE_CLIMB} more LRs, got {climb!r}")
    return int(climb)


def probe_epochs_per_candidate(epochs: float, fraction: float, total_epochs: int) -> float:
    """How long each candidate trains: ``fraction`` of the run's ``total_epochs``, at least ``epochs``."""
    return max(epochs, fraction * total_epochs)


def probe_steps_per_candidate(epochs: float, steps_per_epoch: int) -> int:
    """Optimizer steps each candidate trains: ``epochs`` × ``steps_per_epoch``, rounded, at least 1."""
    return max(1, round(epochs * steps_per_epoch))


def candidate_lr_factor(step: int, steps: int, anneal: bool, hold: float = 0.0) -> float:
    """The factor on a candidate's LR at ``step`` of its ``steps``: 1, or with ``anneal`` a
    cosine from 1 toward 0 after the last step, starting after the first ``hold`` share of the
    steps (1 until then; the steps before ``hold × steps``, and at most all but the last two, so
    that a held candidate of two steps or more still ends below its LR)."""
    if not anneal:
        return 1.0
    held = min(hold * steps, max(steps - 2, 0))
    if step < held:
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * (step - held) / (steps - held)))


def scale_probe_candidates(
    anchor: float, decades: float = 0.5, bounds: tuple[float, float] | None = None, width: int = 1
) -> list[float]:
    """The LRs the probe tries, lowest first: ``anchor`` moved to the nearest LR of the form
    ``10 ** (k * decades)`` and the ``width`` grid LRs either side of it, each clipped to
    ``bounds`` (duplicates dropped)."""
    if not 0 < anchor < math.inf:
        raise ValueError(f"the probe's anchor must be a positive finite LR, got {anchor!r}")
    check_scale_probe_decades(decades)
    check_scale_probe_width(width, "width")
    k = round(math.log10(anchor) / decades)
    candidates = [10 ** ((k + i) * decades) for i in range(-width, width + 1)]
    if bounds is not None:
        low, high = bounds
        candidates = [min(max(lr, low), high) for lr in candidates]
    return list(dict.fromkeys(candidates))


def grid_neighbour(
    lr: float, direction: int, decades: float = 0.5, bounds: tuple[float, float] | None = None
) -> float | None:
    """The grid LR ``10 ** (k * decades)`` ``direction`` grid steps from ``lr``: below it where
    negative (-1: the next one down), above it where positive, clipped to ``bounds``; None where
    clipping leaves it within half a step of ``lr`` (nothing new to try)."""
    k = round(math.log10(lr) / decades) + direction
    neighbour = 10 ** (k * decades)
    if bounds is not None:
        neighbour = min(max(neighbour, bounds[0]), bounds[1])
    return None if abs(math.log10(neighbour / lr)) < decades / 2 else neighbour


@dataclass
class ScaleProbeResult:
    """What a scale probe saw: each candidate LR and its validation loss (inf where the run
    diverged), and the winner."""

    lrs: list[float]
    losses: list[float]
    best_lr: float


def scale_probe(
    short_run: Callable[[float], float],
    candidates: list[float],
    walk: int = 0,
    neighbour: Callable[[float, int], float | None] | None = None,
    *,
    climb: int = 0,
    decade_steps: int = 2,
    start_loss: Callable[[], float] | None = None,
) -> ScaleProbeResult:
    """Run ``short_run(lr)`` for each candidate (it trains from the probe's starting weights at
    ``lr`` and returns the validation loss) and pick the lowest loss. A non-finite loss counts
    as infinite; where every candidate diverged, the lowest LR wins; ties go to the lower LR.

    With ``walk`` and two candidates or more: while the best LR is the lowest or the highest
    tried, ``neighbour(best, -1 or +1)`` (e.g. :func:`grid_neighbour`) is tried too, up to
    ``walk`` more; the walk stops where it gives None or an LR already tried, and where the
    lowest LR is best only by a tie with the next (equal finite losses show no slope to follow;
    where all diverged, the walk goes down).

    With ``climb`` (after the walk): while the best LR is the highest tried and the loss is lower
    at each higher LR tried, ``neighbour(best, decade_steps)`` (a decade up) is tried where the
    best loss is less than :data:`CLIMB_BARELY_MOVED` below ``start_loss()`` (the loss of the
    probe's starting weights, asked for once, when needed), else ``neighbour(best, 1)``; up to
    ``climb`` more in all."""
    if not candidates:
        raise ValueError("the scale probe needs at least one candidate LR")
    check_scale_probe_walk(walk, "walk")
    check_scale_probe_climb(climb, "climb")
    if (walk or climb) and neighbour is None:
        raise ValueError("a walking or climbing scale probe needs neighbour(lr, direction)")
    if climb and start_loss is None:
        raise ValueError("a climbing scale probe needs start_loss()")
    step = neighbour or (lambda lr, direction: None)
    tried: dict[float, float] = {}

    def run(lr: float) -> None:
        loss = float(short_run(lr))
        tried[lr] = loss if math.isfinite(loss) else math.inf

    def best() -> float:
        return min(tried, key=lambda lr: (tried[lr], lr))

    for lr in sorted(candidates):
        run(lr)
    for _ in range(walk if len(tried) > 1 else 0):
        lrs, winner = sorted(tried), best()
        if winner not in (lrs[0], lrs[-1]):
            break
        if winner == lrs[0] and math.isfinite(tried[winner]) and tried[winner] == tried[lrs[1]]:
            break  # best only by the tie-break
        next_lr = step(winner, -1 if winner == lrs[0] else 1)
        if next_lr is None or next_lr in tried:
            break
        run(next_lr)
    if climb:
        _climb(tried, run, step, climb, decade_steps, start_loss)
    lrs = sorted(tried)
    return ScaleProbeResult(lrs, [tried[lr] for lr in lrs], best())


def _climb(
    tried: dict[float, float],
    run: Callable[[float], None],
    step: Callable[[float, int], float | None],
    climb: int,
    decade_steps: int,
    start_loss: Callable[[], float],
) -> None:
    """The climbing part of :func:`scale_probe`: up to ``climb`` more LRs in ``tried``."""
    start: float | None = None
    for _ in range(climb):
        lrs = sorted(tried)
        losses = [tried[lr] for lr in lrs]
        if len(lrs) < 2 or not all(a > b for a, b in itertools.pairwise(losses)):
            return  # the loss does not fall at every higher LR (so the best is not the highest): no slope
        if start is None:
            start = float(start_loss())
        # a non-finite starting loss cannot say how far the best moved: a grid LR a step
        barely_moved = math.isfinite(start) and losses[-1] >= start - CLIMB_BARELY_MOVED * abs(start)
        next_lr = step(lrs[-1], decade_steps if barely_moved else 1)
        if next_lr is None or next_lr in tried:
            return
        run(next_lr)


def grid_scale_probe(
    short_run: Callable[[float], float],
    anchor: float,
    *,
    decades: float = 0.5,
    bounds: tuple[float, float] | None = None,
    width: int = 1,
    walk: int = 0,
    climb: int = 0,
    start_loss: Callable[[], float] | None = None,
) -> ScaleProbeResult:
    """:func:`scale_probe` on the grid ``10 ** (k * decades)``: the candidates are
    :func:`scale_probe_candidates` around ``anchor`` and a walk or climb steps to
    :func:`grid_neighbour` (a climb's decade is ``round(1 / decades)`` grid steps, at least one),
    all within ``bounds``."""
    candidates = scale_probe_candidates(anchor, decades, bounds, width)
    return scale_probe(
        short_run,
        candidates,
        walk,
        lambda lr, direction: grid_neighbour(lr, direction, decades, bounds),
        climb=climb,
        decade_steps=max(1, round(1 / decades)),
        start_loss=start_loss,
    )
