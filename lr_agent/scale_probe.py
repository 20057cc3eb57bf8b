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
:class:`~lr_agent.env.TrainingRunEnv` and
:class:`~lr_agent.scheduler.ControllerScheduler` both run it through :func:`scale_probe`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

MAX_SCALE_PROBE_EPOCHS = 10.0
"""The most ``scale_probe_epochs`` may be (a ``scale_probe_fraction`` of a long run may train a
candidate longer: up to that share of the run, for each of ``2 * width + 1`` candidates)."""


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


@dataclass
class ScaleProbeResult:
    """What a scale probe saw: each candidate LR and its validation loss (inf where the run
    diverged), and the winner."""

    lrs: list[float]
    losses: list[float]
    best_lr: float


def scale_probe(short_run: Callable[[float], float], candidates: list[float]) -> ScaleProbeResult:
    """Run ``short_run(lr)`` for each candidate (it trains from the probe's starting weights at
    ``lr`` and returns the validation loss) and pick the lowest loss. A non-finite loss counts
    as infinite; where every candidate diverged, the lowest LR wins; ties go to the lower LR."""
    if not candidates:
        raise ValueError("the scale probe needs at least one candidate LR")
    lrs = sorted(candidates)
    losses = []
    for lr in lrs:
        loss = float(short_run(lr))
        losses.append(loss if math.isfinite(loss) else math.inf)
    best = lrs[losses.index(min(losses))]
    return ScaleProbeResult(lrs, losses, best)
