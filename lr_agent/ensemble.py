"""Several controllers as one: a wider network that acts on the mean of the members' outputs.

PPO policies trained by one recipe with different seeds differ more than most changes to the
recipe do (``experiments/NOTES.md``). Averaging their logits (their action means, for
continuous controllers) is the plain remedy, and it needs no new file format: the members'
networks are laid side by side in one network of the same depth (first layers stacked, deeper
layers block-diagonal, heads concatenated and divided by the number of members), so the result
is an ordinary controller file that every reader of the format runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch

from lr_agent.controller import Controller

_MUST_AGREE = (
    "activation",
    "output",
    "multipliers",
    "max_log10_step",
    "relative_lr_bounds",
    "divergence_cut",
    "obs_clip",
    "obs_epsilon",
)


def ensemble(members: Sequence[Controller], range_test_extend: float | None = None) -> Controller:
    """One controller whose output is the mean of the members' outputs (logits or action means).

    The members must agree on the network's depth, activation, action set and LR bounds. The
    range test (how the run's LR scale is found before the first decision) is the first
    member's, with its extension replaced by ``range_test_extend`` when given. Each member's
    observation normaliser is folded into its first layer, below a shared normaliser with the
    mean of the members' statistics; the result equals the mean of the members' outputs exactly
    except for observations beyond ``obs_clip`` standard deviations, which are clipped in the
    shared normalisation instead of each member's own.
    """
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least two controllers, got {len(members)}")
    first = members[0]
    for i, member in enumerate(members[1:], start=2):
        for name in _MUST_AGREE:
            if getattr(member, name) != getattr(first, name):
                raise ValueError(
                    f"controller {i} has {name} {getattr(member, name)!r}, controller 1 {getattr(first, name)!r}; "
                    "an ensemble's members must agree on it"
                )
        if len(member.layers) != len(first.layers):
            raise ValueError(
                f"controller {i} has {len(member.layers)} hidden layers, controller 1 {len(first.layers)}; "
                "an ensemble's members must have the same depth"
            )
    if range_test_extend is not None and not first.range_test_steps:
        raise ValueError("range_test_extend: controller 1 has no range test to extend")
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
        range_test_extend=first.range_test_extend if range_test_extend is None else range_test_extend,
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
        "members": [{"fingerprint": m.fingerprint, "range_test_steps": m.range_test_steps, **m.info} for m in members],
    }
