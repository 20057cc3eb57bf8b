"""Several controllers as one: a wider network that acts on the mean of the members' outputs.

PPO policies trained by one recipe with different seeds differ more than most changes to the
recipe do (``experiments/NOTES.md``). Averaging their logits (their action means, for
continuous controllers) is the plain remedy; for discrete actions it picks the most likely
action of the members' normalised geometric mean policy. It needs no new file format: the
members' networks are laid side by side in one network of the same depth (first layers
stacked, deeper layers block-diagonal, heads concatenated and divided by the number of
members), so the result is an ordinary controller file that every reader of the format runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch

from lr_agent.controller import Controller
from lr_agent.scale_probe import (
    check_scale_probe_anneal,
    check_scale_probe_climb,
    check_scale_probe_decades,
    check_scale_probe_epochs,
    check_scale_probe_fraction,
    check_scale_probe_hold,
    check_scale_probe_walk,
    check_scale_probe_width,
)
from lr_agent.schedules import check_anneal_tail, check_range_test_extend, check_range_test_fraction

_MUST_AGREE = (
    "activation",
    "output",
    "multipliers",
    "max_log10_step",
    "relative_lr_bounds",
    "divergence_cut",
    "obs_clip",
    "obs_epsilon",
    "range_test_fraction",
    "range_test_span",
)


def ensemble(
    members: Sequence[Controller],
    range_test_extend: float | None = None,
    names: Sequence[str] | None = None,
    range_test_fraction: float | None = None,
    range_test_flat_fallback: bool | None = None,
    range_test_adaptive_fraction: float | None = None,
    anneal_tail: float | None = None,
    scale_probe_epochs: float | None = None,
    scale_probe_decades: float | None = None,
    scale_probe_width: int | None = None,
    scale_probe_fraction: float | None = None,
    scale_probe_anneal: bool | None = None,
    scale_probe_hold: float | None = None,
    scale_probe_walk: int | None = None,
    scale_probe_climb: int | None = None,
    flags: bool = False,
) -> Controller:
    """One controller whose output is the mean of the members' outputs (logits or action means).

    The members must be different agents of one algorithm that agree on the network's depth,
    activation, action set, LR bounds and range test (its span and fraction, or having none);
    their range tests may differ in the number of steps (the anchor then moves by under a
    step of the sweep), and the first member's is kept, with its extension replaced by
    ``range_test_extend`` and the fraction of the loss minimum's LR it suggests by
    ``range_test_fraction`` (``range_test_adaptive_fraction`` for adaptive optimizers) and its
    handling of a flat loss by ``range_test_flat_fallback`` when given (settings of the probe:
    the weights stay the members'); ``anneal_tail`` and the ``scale_probe_*`` settings, when
    given, replace the first member's anneal tail and scale probe. ``names`` (file paths, say)
    name the members in errors; with ``flags``, errors name the settings as ``lr-agent
    ensemble``'s flags (``--range-test-extend``).

    Each member's observation normaliser is folded into its first layer, below a shared
    normaliser with the mean of the members' statistics. The result equals the mean of the
    members' outputs exactly wherever no clipping binds; near the ends of the LR bounds, where
    a member or the shared normaliser clips an observation at ``obs_clip`` standard
    deviations, the two clip at different places and may differ slightly.
    """
    names = list(names) if names is not None else [f"controller {i}" for i in range(1, len(members) + 1)]
    if len(names) != len(members):
        raise ValueError(f"{len(names)} names for {len(members)} controllers")
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least two controllers, got {len(members)}")
    overrides = {  # field: its value, None for the first member's
        "range_test_extend": range_test_extend,
        "range_test_fraction": range_test_fraction,
        "range_test_flat_fallback": range_test_flat_fallback,
        "range_test_adaptive_fraction": range_test_adaptive_fraction,
        "anneal_tail": anneal_tail,
        "scale_probe_epochs": scale_probe_epochs,
        "scale_probe_decades": scale_probe_decades,
        "scale_probe_width": scale_probe_width,
        "scale_probe_fraction": scale_probe_fraction,
        "scale_probe_anneal": scale_probe_anneal,
        "scale_probe_hold": scale_probe_hold,
        "scale_probe_walk": scale_probe_walk,
        "scale_probe_climb": scale_probe_climb,
    }
    overrides = {field: value for field, value in overrides.items() if value is not None}
    label = {field: "--" + field.replace("_", "-") if flags else field for field in overrides}
    checks = {
        "range_test_extend": check_range_test_extend,
        "range_test_fraction": check_range_test_fraction,
        "range_test_adaptive_fraction": check_range_test_fraction,
        "anneal_tail": check_anneal_tail,
        "scale_probe_epochs": check_scale_probe_epochs,
        "scale_probe_decades": check_scale_probe_decades,
        "scale_probe_width": check_scale_probe_width,
        "scale_probe_fraction": check_scale_probe_fraction,
        "scale_probe_anneal": check_scale_probe_anneal,
        "scale_probe_hold": check_scale_probe_hold,
        "scale_probe_walk": check_scale_probe_walk,
        "scale_probe_climb": check_scale_probe_climb,
    }
    for field, value in overrides.items():
        if field in checks:
            checks[field](value, label[field])
    first = members[0]
    seen: dict[str, str] = {}
    for name, member in zip(names, members, strict=True):
        if not member.layers:
            raise ValueError(f"{name} has no hidden layer; an ensemble's members need one")
        if member.fingerprint in seen:
            raise ValueError(f"{name} has the same weights as {seen[member.fingerprint]}; give each agent once")
        seen[member.fingerprint] = name
        if member is first:
            continue
        differences = [
            f"{field} {getattr(member, field)!r} (against {getattr(first, field)!r})"
            for field in _MUST_AGREE
            if getattr(member, field) != getattr(first, field)
        ]
        if len(member.layers) != len(first.layers):
            differences.append(f"{len(member.layers)} hidden layers (against {len(first.layers)})")
        if bool(member.range_test_steps) != bool(first.range_test_steps):
            differences.append(f"range_test num_steps {member.range_test_steps} (against {first.range_test_steps})")
        algorithms = member.info.get("algorithm"), first.info.get("algorithm")
        if None not in algorithms and algorithms[0] != algorithms[1]:
            differences.append(f"algorithm {algorithms[0]!r} (against {algorithms[1]!r})")
        if differences:
            raise ValueError(f"{name} differs from {names[0]}: {'; '.join(differences)}")
    # False: no fallback, no change; the anneal tail needs no range test, the scale probe does
    needs_test = ("range_test_", "scale_probe_epochs")
    changed = [f for f, value in overrides.items() if f.startswith(needs_test) and value is not False and value != 0]
    if changed and not first.range_test_steps:
        raise ValueError(f"{label[changed[0]]}: {names[0]} has no range test to change or check")
    mean = torch.stack([m.obs_mean for m in members]).mean(0)
    var = torch.stack([m.obs_var for m in members]).mean(0)
    shared_scale = torch.rsqrt(var + first.obs_epsilon)
    first_layers, deeper_layers = [], [[] for _ in first.layers[1:]]
    for member in members:
        scale = torch.rsqrt(member.obs_var + member.obs_epsilon)
        weight, bias = member.layers[0]
        # member's normalised input = u * scale / shared_scale + (mean - member mean) * scale,
        # where u is the input normalised with the shared statistics
        first_layers.append((weight * (scale / shared_scale), bias + weight @ ((mean - member.obs_mean) * scale)))
        for stack, layer in zip(deeper_layers, member.layers[1:], strict=True):
            stack.append(layer)
    layers = [(torch.cat([w for w, _ in first_layers]), torch.cat([b for _, b in first_layers]))]
    layers += [(torch.block_diag(*[w for w, _ in stack]), torch.cat([b for _, b in stack])) for stack in deeper_layers]
    count = len(members)
    head = (
        torch.cat([m.head[0] for m in members], dim=1) / count,
        torch.stack([m.head[1] for m in members]).sum(0) / count,
    )
    return dataclasses.replace(
        first,
        layers=layers,
        head=head,
        obs_mean=mean,
        obs_var=var,
        **overrides,
        info=_ensemble_info(members),
    )


def _ensemble_info(members: Sequence[Controller]) -> dict[str, Any]:
    trained_on: list[str] = []
    for member in members:
        trained_on += [name for name in member.info.get("trained_on", []) if name not in trained_on]
    return {
        "algorithm": f"ensemble of {len(members)}",
        "trained_on": trained_on,
        "env_steps": sum(int(m.info.get("env_steps", 0)) for m in members),
        "members": [
            {
                **m.info,
                "fingerprint": m.fingerprint,
                "range_test": m.range_test_settings(),
            }
            for m in members
        ],
    }
