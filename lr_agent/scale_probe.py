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
the noise a constant LR leaves.
A walking probe (``walk``) goes on past the candidates while the best one is the lowest or the
highest tried: the next grid LR that way trains too, up to ``walk`` more, so that an anchor
that is off by more than the probe's width can still reach the LR the run wants.
:class:`~lr_agent.env.TrainingRunEnv` and
:class:`~lr_agent.scheduler.ControllerScheduler` both run it through :func:`grid_scale_probe`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

MAX_SCALE_PROBE_EPOCHS = 10.0
"""The most ``scale_probe_epochs`` may be (a ``scale_probe_fraction`` of a long run may train a
candidate longer: up to that share of the run, for each of ``2 * width + 1`` candidates and
up to ``walk`` more)."""


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


MAX_SCALE_PROBE_WALK = 4
"""The most grid LRs a walking probe may add past its candidates."""


def check_scale_probe_walk(walk: int, name: str = "scale_probe_walk") -> int:
    """``walk`` if it is 0 (no walk) to :data:`MAX_SCALE_PROBE_WALK`; a ``ValueError`` naming ``name`` if not."""
    if isinstance(walk, bool) or not isinstance(walk, numbers.Integral) or not 0 <= walk <= MAX_SCALE_PROBE_WALK:
        raise ValueError(f"{name} must be 0 (no walk) to {MAX_SCALE_PROBE_WALK} more grid LRs, got {walk!r}")
    return int(walk)


def probe_epochs_per_candidate(epochs: float, fraction: float, total_epochs: int) -> float:
    """How long each candidate trains: ``fraction`` of the run's ``total_epochs``, at least ``epochs``."""
    return max(epochs, fraction * total_epochs)


def probe_steps_per_candidate(epochs: float, steps_per_epoch: int) -> int:
    """Optimizer steps each candidate trains: ``epochs`` × ``steps_per_epoch``, rounded, at least 1."""
    return max(1, round(epochs * steps_per_epoch))


def candidate_lr_factor(step: int, steps: int, anneal: bool) -> float:
    """The factor on a candidate's LR at ``step`` of its ``steps``: 1, or with ``anneal`` a
    cosine from 1 at the first step toward 0 after the last."""
    return 0.5 * (1.0 + math.cos(math.pi * step / steps)) if anneal else 1.0


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
    """The grid LR ``10 ** (k * decades)`` next to ``lr`` below it (``direction`` -1) or above it
    (+1), clipped to ``bounds``; None where clipping leaves it within half a step of ``lr``
    (nothing new to try)."""
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
) -> ScaleProbeResult:
    """Run ``short_run(lr)`` for each candidate (it trains from the probe's starting weights at
    ``lr`` and returns the validation loss) and pick the lowest loss. A non-finite loss counts
    as infinite; where every candidate diverged, the lowest LR wins; ties go to the lower LR.

    With ``walk`` and two candidates or more: while the best LR is the lowest or the highest
    tried, ``neighbour(best, -1 or +1)`` (e.g. :func:`grid_neighbour`) is tried too, up to
    ``walk`` more; the walk stops where it gives None or an LR already tried, and where the
    lowest LR is best only by a tie with the next (equal finite losses show no slope to follow;
    where all diverged, the walk goes down)."""
    if not candidates:
        raise ValueError("the scale probe needs at least one candidate LR")
    check_scale_probe_walk(walk, "walk")
    if walk and neighbour is None:
        raise ValueError("a walking scale probe needs neighbour(lr, direction)")
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
    lrs = sorted(tried)
    return ScaleProbeResult(lrs, [tried[lr] for lr in lrs], best())


def grid_scale_probe(
    short_run: Callable[[float], float],
    anchor: float,
    *,
    decades: float = 0.5,
    bounds: tuple[float, float] | None = None,
    width: int = 1,
    walk: int = 0,
) -> ScaleProbeResult:
    """:func:`scale_probe` on the grid ``10 ** (k * decades)``: the candidates are
    :func:`scale_probe_candidates` around ``anchor`` and a walk steps to :func:`grid_neighbour`,
    all within ``bounds``."""
    candidates = scale_probe_candidates(anchor, decades, bounds, width)
    return scale_probe(
        short_run, candidates, walk, lambda lr, direction: grid_neighbour(lr, direction, decades, bounds)
    )
