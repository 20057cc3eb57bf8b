import copy
import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from lr_agent import Controller, ControllerScheduler, TrainingRunEnv
from lr_agent.controller import ControllerFileError
from lr_agent.ensemble import ensemble
from lr_agent.env import _candidate_lrs
from lr_agent.scale_probe import (
    candidate_lr_factor,
    check_scale_probe_hold,
    grid_neighbour,
    grid_scale_probe,
    probe_epochs_per_candidate,
    probe_steps_per_candidate,
    scale_probe,
    scale_probe_candidates,
)
from tests.conftest import random_controller


def test_candidates_are_the_anchors_grid_lr_and_its_neighbours_within_the_bounds():
    assert scale_probe_candidates(0.0062) == pytest.approx([10**-2.5, 1e-2, 10**-1.5])  # -2.21 rounds to -2
    assert scale_probe_candidates(0.0042) == pytest.approx([1e-3, 10**-2.5, 1e-2])  # -2.38 rounds to -2.5
    assert scale_probe_candidates(3e-4, decades=1.0) == pytest.approx([1e-5, 1e-4, 1e-3])
    assert scale_probe_candidates(0.9, bounds=(1e-3, 1.0)) == pytest.approx([10**-0.5, 1.0])  # 3.16 clipped onto 1
    with pytest.raises(ValueError, match="scale_probe_decades must be in \\(0, 3\\] decades, got 0"):
        scale_probe_candidates(0.01, decades=0)
    with pytest.raises(ValueError, match="positive finite LR, got nan"):
        scale_probe_candidates(math.nan)
    assert probe_steps_per_candidate(0.25, 10) == 2 and probe_steps_per_candidate(0.01, 10) == 1


def test_a_wider_probe_tries_more_grid_lrs_and_a_longer_one_trains_a_share_of_the_budget():
    assert scale_probe_candidates(0.0062, width=2) == pytest.approx([1e-3, 10**-2.5, 1e-2, 10**-1.5, 1e-1])
    expected = [1e-2, 10**-1.5, 0.1, 10**-0.5, 1.0]  # 3.16 and 10 clipped onto 1
    assert scale_probe_candidates(0.5, width=3, bounds=(1e-4, 1.0)) == pytest.approx(expected)
    with pytest.raises(ValueError, match="width must be 1, 2 or 3 grid LRs either side, got 0"):
        scale_probe_candidates(0.01, width=0)
    assert probe_epochs_per_candidate(1.0, 0.2, 20) == 4.0  # a fifth of a 20-epoch run
    assert probe_epochs_per_candidate(1.0, 0.1, 5) == 1.0  # at least scale_probe_epochs
    assert probe_epochs_per_candidate(0.5, 0.0, 40) == 0.5


def test_an_annealed_candidate_falls_along_a_cosine_and_a_constant_one_does_not():
    factors = [candidate_lr_factor(i, 4, anneal=True) for i in range(4)]
    assert factors == pytest.approx([1.0, (1 + math.cos(math.pi / 4)) / 2, 0.5, (1 + math.cos(3 * math.pi / 4)) / 2])
    assert 0 < factors[-1] < 0.15  # the last step still trains
    assert [candidate_lr_factor(i, 4, anneal=False) for i in range(4)] == [1.0] * 4


def test_a_held_candidate_keeps_its_lr_for_its_share_of_the_steps_then_falls_along_a_cosine():
    held = [candidate_lr_factor(i, 8, anneal=True, hold=0.5) for i in range(8)]
    assert held == pytest.approx(
        [1.0] * 4 + [1.0, (1 + math.cos(math.pi / 4)) / 2, 0.5, (1 + math.cos(3 * math.pi / 4)) / 2]
    )
    for steps in (1, 3, 8, 37):  # no hold: the cosine of an annealed candidate, bit for bit
        cosine = [0.5 * (1 + math.cos(math.pi * i / steps)) for i in range(steps)]
        assert [candidate_lr_factor(i, steps, anneal=True, hold=0.0) for i in range(steps)] == cosine
    # a short candidate holds all but its last two steps, so that it still ends below its LR
    assert [candidate_lr_factor(i, 4, anneal=True, hold=0.75) for i in range(4)] == pytest.approx([1, 1, 1, 0.5])
    assert candidate_lr_factor(0, 1, anneal=True, hold=0.9) == 1.0
    assert [candidate_lr_factor(i, 8, anneal=False, hold=0.5) for i in range(8)] == [1.0] * 8
    for hold in (1.0, -0.1, True, "0.5", math.nan):
        with pytest.raises(ValueError, match="scale_probe_hold must be in \\[0, 1\\) of a candidate's steps, got"):
            check_scale_probe_hold(hold)


def test_the_lowest_validation_loss_wins_and_a_diverged_candidate_never_does():
    losses = {1e-3: 0.5, 1e-2: 0.3, 1e-1: math.nan}
    result = scale_probe(losses.__getitem__, [1e-1, 1e-3, 1e-2])
    assert result.lrs == [1e-3, 1e-2, 1e-1] and result.losses == [0.5, 0.3, math.inf] and result.best_lr == 1e-2
    assert scale_probe(lambda lr: math.inf, [1e-1, 1e-2]).best_lr == 1e-2  # all diverged: the lowest LR
    assert scale_probe(lambda lr: 1.0, [1e-1, 1e-2]).best_lr == 1e-2  # a tie: the lower LR


def bowl(lr: float) -> float:
    """A probe's loss whose best LR is 1e-2."""
    return (math.log10(lr) + 2) ** 2


def test_grid_neighbours_are_half_a_decade_apart_and_stop_at_the_bounds():
    assert grid_neighbour(1e-2, 1) == pytest.approx(10**-1.5) and grid_neighbour(1e-2, -1) == pytest.approx(10**-2.5)
    assert grid_neighbour(0.0062, -1) == pytest.approx(10**-2.5)  # 0.0062 is on the grid at 1e-2
    assert grid_neighbour(1e-3, 1, decades=1.0) == pytest.approx(1e-2)
    assert grid_neighbour(0.5, 1, bounds=(1e-4, 1.0)) == 1.0  # 0.5 is on the grid at 0.316: its neighbour is 1
    assert grid_neighbour(10**-0.5, 1, bounds=(1e-4, 0.8)) == 0.8  # 1 clipped onto the bound
    assert grid_neighbour(0.01, 1, bounds=(1e-4, 0.0102)) is None  # clipped to within half a step: nothing new
    assert grid_neighbour(1.0, 1, bounds=(1e-4, 1.0)) is None and grid_neighbour(1e-4, -1, bounds=(1e-4, 1.0)) is None


def test_a_walking_probe_goes_on_past_an_end_until_the_best_is_inside_or_the_walk_is_spent():
    def walking(anchor: float, walk: int, bounds=None):
        return grid_scale_probe(bowl, anchor, bounds=bounds, walk=walk)

    assert walking(1e-4, 0).lrs == pytest.approx([10**-4.5, 1e-4, 10**-3.5])  # no walk: the plain probe
    short = walking(1e-4, 2)  # the best is the highest tried each time: two more upward, and still the highest
    assert short.lrs == pytest.approx([10**-4.5, 1e-4, 10**-3.5, 1e-3, 10**-2.5]) and short.best_lr == short.lrs[-1]
    long = walking(1e-4, 4)  # the fourth step passes the best, which is then inside
    assert long.best_lr == pytest.approx(1e-2) and long.lrs[-1] == pytest.approx(10**-1.5) and len(long.lrs) == 7
    assert walking(1.0, 4).best_lr == pytest.approx(1e-2) and walking(1.0, 4).lrs[0] == pytest.approx(10**-2.5)
    assert len(walking(1e-2, 4).lrs) == 3  # the best is inside from the start: no walk
    bounded = walking(1e-3, 4, bounds=(1e-3, 1.0))  # the lowest candidate clipped away, then up past the best
    assert bounded.lrs == pytest.approx([1e-3, 10**-2.5, 1e-2, 10**-1.5]) and bounded.best_lr == pytest.approx(1e-2)
    assert walking(10**-3.5, 4, bounds=(10**-2.5, 1.0)).lrs == [10**-2.5]  # one LR left: no side to prefer
    at_bound = scale_probe(lambda lr: lr, [1e-3, 1e-2], 4, lambda lr, d: grid_neighbour(lr, d, 0.5, (1e-3, 1.0)))
    assert at_bound.lrs == [1e-3, 1e-2] and at_bound.best_lr == 1e-3  # the lowest wins but is the bound: no walk
    diverged = scale_probe(lambda lr: math.inf, [1e-2, 10**-1.5], 2, grid_neighbour)  # all diverge: walk down
    assert diverged.lrs == pytest.approx([1e-3, 10**-2.5, 1e-2, 10**-1.5]) and diverged.best_lr == pytest.approx(1e-3)
    flat = scale_probe(lambda lr: 1.0, [1e-2, 10**-1.5, 0.1], 2, grid_neighbour)  # the lowest wins a tie: no slope
    assert flat.lrs == [1e-2, 10**-1.5, 0.1] and flat.best_lr == 1e-2
    tied_above = scale_probe(
        {1e-2: 1.0, 10**-1.5: 1.0, 0.1: 0.5, 10**-0.5: 0.4}.get, [1e-2, 10**-1.5, 0.1], 1, grid_neighbour
    )
    assert tied_above.best_lr == 10**-0.5  # a tie elsewhere does not stop a walk up
    with pytest.raises(ValueError, match="walk must be 0 \\(no walk\\) to 4 more grid LRs, got 5"):
        scale_probe(bowl, [1e-2, 1e-1], 5, grid_neighbour)
    with pytest.raises(ValueError, match="a walking or climbing scale probe needs neighbour"):
        scale_probe(bowl, [1e-2, 1e-1], 1)


# a probe's losses from a start three decades too low, on the half-decade grid (k: 2 * log10(lr));
# the starting loss is 1.0138 (arm-mlp's seed 3 from 1e-4, NOTES.md entry 23)
FAR_TOO_LOW = {-14: 1.0137, -13: 1.0134, -12: 1.0126, -11: 1.0101, -10: 1.0029, -9: 0.9827, -8: 0.874, -7: 0.415,
               -6: 0.1818, -5: 0.0523, -4: 0.0402, -3: 0.0633, -2: 0.2, -1: 0.9}  # fmt: skip


def far_too_low(lr: float) -> float:
    return FAR_TOO_LOW[round(2 * math.log10(lr))]


def test_a_climbing_probe_follows_a_falling_loss_a_decade_a_step_while_it_barely_moved():
    asked = []

    def start_loss() -> float:
        asked.append(True)
        return 1.0138

    def climbing(climb: int, anchor: float = 3.6e-7, walk: int = 2, bounds=None, losses=far_too_low):
        asked.clear()
        return grid_scale_probe(losses, anchor, bounds=bounds, walk=walk, climb=climb, start_loss=start_loss)

    walked = climbing(0)  # the walk alone stops at 1e-5, three decades short
    assert walked.lrs[-1] == walked.best_lr == pytest.approx(1e-5) and len(walked.lrs) == 5 and not asked
    climbed = climbing(4)  # 1e-5 lowered the loss by 1%: a decade up; 1e-4 by 14%: then a grid LR a step
    expected = [10**-3.5, 1e-3, 10**-2.5]
    assert climbed.lrs[5:] == pytest.approx([1e-4, *expected]) and climbed.best_lr == pytest.approx(expected[-1])
    assert asked == [True]  # the starting loss is asked for once
    turned = climbing(6)  # the loss turns up at 10**-1.5: the climb stops with the best inside
    assert turned.lrs[-2:] == pytest.approx([1e-2, 10**-1.5]) and turned.best_lr == pytest.approx(1e-2)
    bounded = climbing(6, bounds=(3.6e-11, 3.6e-3))  # the run's bounds: 3.16e-3, then nothing new to try
    assert bounded.lrs[-1] == pytest.approx(10**-2.5) and len(bounded.lrs) == 9
    assert climbing(6, walk=0).lrs[3:] == pytest.approx([1e-5, 1e-4, 10**-3.5, 1e-3, 10**-2.5, 1e-2])
    assert len(climbing(6, anchor=1e-2).lrs) == 3 and not asked  # the best is inside: nothing to climb
    shuffled = {10**-4.5: 1.005, 1e-4: 1.02, 10**-3.5: 1.004}.get  # the highest wins, but the loss shows no slope
    assert climbing(6, anchor=1e-4, walk=0, losses=shuffled).lrs == pytest.approx([10**-4.5, 1e-4, 10**-3.5])
    assert not asked
    unknown = grid_scale_probe(far_too_low, 3.6e-7, walk=2, climb=2, start_loss=lambda: math.nan)
    assert unknown.lrs[5:] == pytest.approx([10**-4.5, 1e-4])  # no telling how far the best moved: grid LRs
    with pytest.raises(ValueError, match="climb must be 0 \\(no climb\\) to 6 more LRs, got 7"):
        scale_probe(bowl, [1e-2, 1e-1], 0, grid_neighbour, climb=7, start_loss=start_loss)
    with pytest.raises(ValueError, match="a climbing scale probe needs start_loss"):
        scale_probe(bowl, [1e-2, 1e-1], 0, grid_neighbour, climb=2)


def test_the_env_probe_finds_a_start_far_too_low_and_leaves_the_run_as_it_was():
    plain = TrainingRunEnv("digits-mlp", relative_lr_bounds=(1e-4, 1e4), epochs=3, optimizer="sgd")
    probed = TrainingRunEnv(
        "digits-mlp", relative_lr_bounds=(1e-4, 1e4), epochs=3, optimizer="sgd", scale_probe_epochs=0.5,
        scale_probe_decades=1.0,
    )  # fmt: skip
    _, plain_info = plain.reset(seed=0, options={"lr": 1e-4})
    _, info = probed.reset(seed=0, options={"lr": 1e-4})
    result = probed.scale_probe_result
    assert result.lrs == pytest.approx([1e-5, 1e-4, 1e-3]) and result.losses[0] > result.losses[1] > result.losses[2]
    assert probed.anchor_lr == info["lr"] == pytest.approx(1e-3)  # plain SGD at 1e-4 barely moves: the probe climbs
    steps = probe_steps_per_candidate(0.5, probed.workload.steps_per_epoch)
    assert info["probe_steps"] == 3 * steps and plain_info["probe_steps"] == 0
    assert info["val_loss"] == plain_info["val_loss"]  # weights, optimizer and batches restored
    for name, tensor in plain.workload.model.state_dict().items():
        assert torch.equal(tensor, probed.workload.model.state_dict()[name])
    assert probed.lr_bounds == pytest.approx((1e-3 * 1e-4, 1e-3 * 1e4))
    # every candidate trained on the same batches: a second probe from the same state sees the same losses
    again = probed.scale_probe(probed.anchor_lr, epochs=0.5)
    assert again.losses[:2] == pytest.approx(result.losses[1:])
    _, _, _, _, step = probed.step(probed.multipliers.index(1.0))
    assert step["step"] == probed.workload.steps_per_epoch and step["probe_steps"] == 6 * steps


def test_the_env_probe_walks_up_from_a_start_far_too_low_and_leaves_the_run_as_it_was():
    settings = dict(relative_lr_bounds=(1e-4, 1e4), epochs=3, optimizer="sgd", scale_probe_epochs=0.5)
    plain = TrainingRunEnv("digits-mlp", **settings, scale_probe_decades=1.0)
    walking = TrainingRunEnv("digits-mlp", **settings, scale_probe_decades=1.0, scale_probe_walk=2)
    _, plain_info = plain.reset(seed=0, options={"lr": 1e-4})
    _, info = walking.reset(seed=0, options={"lr": 1e-4})
    result = walking.scale_probe_result
    assert plain.scale_probe_result.best_lr == pytest.approx(1e-3)  # the highest of three: the plain probe stops
    assert result.lrs == pytest.approx([1e-5, 1e-4, 1e-3, 1e-2, 1e-1])  # the walk goes on up twice
    assert (
        result.losses[:3] == plain.scale_probe_result.losses and result.losses[2] > result.losses[3] > result.losses[4]
    )
    assert walking.anchor_lr == info["lr"] == pytest.approx(1e-1)
    steps = probe_steps_per_candidate(0.5, walking.workload.steps_per_epoch)
    assert info["probe_steps"] == 5 * steps and plain_info["probe_steps"] == 3 * steps
    assert info["val_loss"] == plain_info["val_loss"]  # weights, optimizer and batches restored
    # from a start far too high: 1 and 10 blow up, 0.1 wins as the lowest, one step down is worse
    _, info = walking.reset(seed=0, options={"lr": 1.0})
    result = walking.scale_probe_result
    assert result.lrs == pytest.approx([1e-2, 1e-1, 1.0, 10.0]) and result.best_lr == pytest.approx(0.1)
    assert result.losses[1] < result.losses[0] and result.losses[3] == math.inf
    assert info["probe_steps"] == 4 * steps


def test_the_env_probe_climbs_a_decade_a_step_from_a_start_far_too_low_and_leaves_the_run_as_it_was():
    settings = dict(relative_lr_bounds=(1e-4, 1e4), epochs=3, optimizer="sgd", scale_probe_epochs=0.5)
    plain = TrainingRunEnv("digits-mlp", **settings)
    climbing = TrainingRunEnv("digits-mlp", **settings, scale_probe_climb=3)
    _, plain_info = plain.reset(seed=0, options={"lr": 1e-4})
    _, info = climbing.reset(seed=0, options={"lr": 1e-4})
    result, start = climbing.scale_probe_result, climbing.initial_val_loss
    assert plain.scale_probe_result.lrs == pytest.approx([10**-4.5, 1e-4, 10**-3.5])  # the highest wins, by 0.03%
    assert result.lrs == pytest.approx([10**-4.5, 1e-4, 10**-3.5, 10**-2.5, 10**-1.5, 10**-0.5])  # a decade a step
    assert result.losses[:3] == plain.scale_probe_result.losses and result.losses == sorted(result.losses, reverse=True)
    assert result.losses[4] > 0.95 * start > result.losses[5]  # each step up barely moved the loss, the last did
    assert climbing.anchor_lr == info["lr"] == pytest.approx(10**-0.5)
    steps = probe_steps_per_candidate(0.5, climbing.workload.steps_per_epoch)
    assert info["probe_steps"] == 6 * steps and plain_info["probe_steps"] == 3 * steps
    assert info["val_loss"] == plain_info["val_loss"] == start  # weights, optimizer and batches restored


def test_the_env_probe_trains_each_of_five_candidates_a_fifth_of_the_run():
    env = TrainingRunEnv(
        "digits-mlp", relative_lr_bounds=(1e-4, 1e4), epochs=5, optimizer="sgd", scale_probe_epochs=0.5,
        scale_probe_width=2, scale_probe_fraction=0.2,
    )  # fmt: skip
    _, info = env.reset(seed=0, options={"lr": 1e-2})
    result = env.scale_probe_result
    assert result.lrs == pytest.approx(scale_probe_candidates(1e-2, width=2)) and len(result.lrs) == 5
    assert info["probe_steps"] == 5 * env.workload.steps_per_epoch  # 1 epoch each: a fifth of 5, more than 0.5
    assert env.anchor_lr == result.best_lr == result.lrs[int(np.argmin(result.losses))]


def test_probe_settings_are_checked():
    with pytest.raises(ValueError, match="scale_probe_width must be 1, 2 or 3 grid LRs either side, got 4"):
        TrainingRunEnv("wine-mlp", scale_probe_width=4)
    with pytest.raises(ValueError, match="scale_probe_fraction must be in \\[0, 1\\) of the run's epochs, got 1"):
        TrainingRunEnv("wine-mlp", scale_probe_fraction=1)
    with pytest.raises(ValueError, match="scale_probe_epochs must be 0 \\(no probe\\) to 10 epochs, got -1"):
        TrainingRunEnv("wine-mlp", scale_probe_epochs=-1)
    with pytest.raises(ValueError, match="scale_probe_decades must be in \\(0, 3\\] decades, got 5"):
        TrainingRunEnv("wine-mlp", scale_probe_decades=5)
    with pytest.raises(ValueError, match="scale_probe_walk and scale_probe_climb need a probe"):
        TrainingRunEnv("wine-mlp", scale_probe_fraction=0.1)
    with pytest.raises(ValueError, match="need a probe"):
        TrainingRunEnv("wine-mlp", scale_probe_anneal=True)
    with pytest.raises(ValueError, match="scale_probe_anneal must be True or False, got 'yes'"):
        TrainingRunEnv("wine-mlp", scale_probe_epochs=1.0, scale_probe_anneal="yes")
    with pytest.raises(ValueError, match="scale_probe_hold=0.5 needs scale_probe_anneal=True"):
        TrainingRunEnv("wine-mlp", scale_probe_epochs=1.0, scale_probe_hold=0.5)
    with pytest.raises(ValueError, match="scale_probe_hold must be in \\[0, 1\\) of a candidate's steps, got 1"):
        TrainingRunEnv("wine-mlp", scale_probe_epochs=1.0, scale_probe_anneal=True, scale_probe_hold=1)
    for walk in (5, -1, True, 1.5):
        with pytest.raises(
            ValueError, match=f"scale_probe_walk must be 0 \\(no walk\\) to 4 more grid LRs, got {walk}"
        ):
            TrainingRunEnv("wine-mlp", scale_probe_epochs=1.0, scale_probe_walk=walk)
    with pytest.raises(ValueError, match="need a probe"):
        TrainingRunEnv("wine-mlp", scale_probe_walk=2)
    for climb in (7, -1, False, 2.0):
        with pytest.raises(ValueError, match=f"scale_probe_climb must be 0 \\(no climb\\) to 6 more LRs, got {climb}"):
            TrainingRunEnv("wine-mlp", scale_probe_epochs=1.0, scale_probe_climb=climb)
    with pytest.raises(ValueError, match="need a probe"):
        TrainingRunEnv("wine-mlp", scale_probe_climb=2)
    env = TrainingRunEnv("wine-mlp", epochs=2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="needs epochs > 0"):
        env.scale_probe(0.01)


def test_the_env_scores_annealed_candidates_by_the_run_they_stand_for():
    env = TrainingRunEnv(
        "digits-mlp", relative_lr_bounds=(1e-4, 1e4), epochs=3, optimizer="sgd", scale_probe_epochs=0.5,
        scale_probe_anneal=True,
    )  # fmt: skip
    env.reset(seed=0, options={"lr": 1e-2})
    result, workload = env.scale_probe_result, env.workload
    steps = probe_steps_per_candidate(0.5, workload.steps_per_epoch)
    start = copy.deepcopy(workload.state_dict())  # the probe restored the weights it started from
    for lr, loss in zip(result.lrs, result.losses, strict=True):
        workload.load_state_dict(copy.deepcopy(start))
        for i in range(steps):  # the same steps by hand, at the cosine's LR
            workload.optimizer.param_groups[0]["lr"] = lr * candidate_lr_factor(i, steps, anneal=True)
            workload.train(1)
        assert workload.evaluate().loss == loss  # bit for bit: the env sets the same LR at each step
    workload.load_state_dict(start)
    workload.optimizer.param_groups[0]["lr"] = 0.5
    workload.train(1)
    assert workload.optimizer.param_groups[0]["lr"] == 0.5  # the probe took its LR hook away
    env.scale_probe_anneal = False
    constant = env.scale_probe(result.lrs[1])
    assert constant.lrs == result.lrs and constant.losses != pytest.approx(result.losses)


def test_the_env_scores_held_candidates_at_their_lr_then_along_the_cosine():
    env = TrainingRunEnv(
        "digits-mlp", relative_lr_bounds=(1e-4, 1e4), epochs=3, optimizer="sgd", scale_probe_epochs=0.5,
        scale_probe_anneal=True, scale_probe_hold=0.75,
    )  # fmt: skip
    env.reset(seed=0, options={"lr": 1e-2})
    workload = env.workload
    steps = probe_steps_per_candidate(0.5, workload.steps_per_epoch)
    seen = []
    workload.optimizer.register_step_post_hook(lambda *_: seen.append(workload.optimizer.param_groups[0]["lr"]))
    result = env.scale_probe(1e-2)
    assert len(seen) == steps * len(result.lrs)
    held = math.ceil(0.75 * steps)  # the first three quarters at the candidate's LR, then the cosine
    for i, lr in enumerate(result.lrs):
        run = seen[i * steps : (i + 1) * steps]
        assert run[:held] == pytest.approx([lr] * held) and run[-1] < lr / 2
        assert run == pytest.approx([lr * candidate_lr_factor(j, steps, anneal=True, hold=0.75) for j in range(steps)])
    env.scale_probe_hold = 0.0
    annealed = env.scale_probe(1e-2)
    assert annealed.lrs == result.lrs and annealed.losses != pytest.approx(result.losses)


def test_an_annealed_candidate_that_diverges_scores_infinite_stops_at_that_epoch_and_the_run_is_restored():
    env = TrainingRunEnv(
        "wine-mlp", relative_lr_bounds=(1e-4, 1e6), epochs=3, optimizer="sgd", scale_probe_epochs=2.0,
        scale_probe_anneal=True,
    )  # fmt: skip
    env.reset(seed=0, options={"lr": 1e-2})
    workload, before = env.workload, copy.deepcopy(env.workload.state_dict())
    steps = []
    workload.optimizer.register_step_post_hook(lambda *_: steps.append(workload.optimizer.param_groups[0]["lr"]))
    result = env.scale_probe(10.0)  # plain SGD at 3.16 and 10 ends huge, at 31.6 it overflows
    assert all(map(math.isfinite, result.losses[:2])) and result.losses[2] == math.inf
    assert result.best_lr == result.lrs[0] and len(steps) == 3 * 2 * workload.steps_per_epoch
    steps.clear()
    assert env.scale_probe(1e3).losses == [math.inf] * 3
    assert len(steps) == 3 * workload.steps_per_epoch  # each stopped after the epoch it diverged in
    after = workload.state_dict()
    assert all(torch.equal(a, b) for a, b in zip(before["model"].values(), after["model"].values(), strict=True))
    assert after["optimizer"]["param_groups"] == before["optimizer"]["param_groups"]  # LRs too
    for key, state in before["optimizer"]["state"].items():
        assert all(torch.equal(value, after["optimizer"]["state"][key][name]) for name, value in state.items())


def test_candidate_lrs_count_a_nested_step_once_and_leave_no_hook_behind():
    seen = []

    class NestedAdam(torch.optim.Adam):
        def step(self, closure=None):
            seen.append(self.param_groups[0]["lr"])
            return super().step(closure)

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # a plain Adam: Adam.step gets hooks of its own
    weight = torch.zeros(2, requires_grad=True)
    optimizer = NestedAdam([weight], lr=1.0)

    def take(n: int) -> None:
        for _ in range(n):
            weight.grad = torch.ones(2)
            optimizer.step()

    with _candidate_lrs(optimizer, [0.1], 4, anneal=True):
        take(6)  # two past the candidate's steps: the last factor
    assert seen == pytest.approx([0.1 * candidate_lr_factor(min(i, 3), 4, anneal=True) for i in range(6)])
    with pytest.raises(RuntimeError, match="a workload failed"), _candidate_lrs(optimizer, [0.1], 4, anneal=True):
        raise RuntimeError("a workload failed")
    seen.clear()
    optimizer.param_groups[0]["lr"] = 0.5
    take(2)
    assert seen == [0.5, 0.5]  # no hook left to set the LR


def full_batch_problem(seed: int = 0):
    """A regression trained on the whole data set each step: the same step whatever the call order."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 3, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(64, generator=g)
    x_val = torch.randn(32, 3, generator=g)
    y_val = x_val @ torch.tensor([1.0, -2.0, 0.5])
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    return model, (x, y), (x_val, y_val)


def full_batch_step(model, optimizer, x, y) -> float:
    """One optimizer step on the whole of ``(x, y)``; the loss before it."""
    loss = (model(x).squeeze(-1) - y).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def test_the_scheduler_probes_with_the_users_closures_and_restores_everything():
    controller = random_controller(range_test_steps=30, relative_lr_bounds=(1e-4, 1e4), scale_probe_epochs=2.0)
    model, (x, y), (x_val, y_val) = full_batch_problem()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = ControllerScheduler(optimizer, controller, total_epochs=5)
    calls = {"train": 0, "evaluate": 0}

    def train_step() -> float:
        calls["train"] += 1
        return full_batch_step(model, optimizer, x, y)

    def evaluate() -> float:
        calls["evaluate"] += 1
        model.eval()
        with torch.no_grad():
            return (model(x_val).squeeze(-1) - y_val).pow(2).mean().item()

    model.train()
    weights, adam_state = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    anchor = sched.range_test(model, train_step, evaluate=evaluate, steps_per_epoch=4)
    result = sched.scale_probe_result
    assert anchor == result.best_lr == result.lrs[int(np.argmin(result.losses))]
    assert sched.tracker.initial_lr == anchor and sched.lr_bounds == pytest.approx((anchor * 1e-4, anchor * 1e4))
    suggestion = sched.range_test_result.suggested_lr
    assert result.lrs == pytest.approx(scale_probe_candidates(suggestion))
    assert calls == {"train": len(sched.range_test_result.lrs) + 3 * 8, "evaluate": 3}
    assert model.training  # put back in training mode after the user's evaluate()
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert optimizer.state_dict()["state"] == {} == adam_state["state"]
    # each candidate's loss is what 8 steps at its LR from the starting weights give
    for lr, loss in zip(result.lrs, result.losses, strict=True):
        model.load_state_dict(weights)
        optimizer.load_state_dict(copy.deepcopy(adam_state))
        for group in optimizer.param_groups:
            group["lr"] = lr
        for _ in range(8):
            train_step()
        assert evaluate() == pytest.approx(loss)
        model.train()


def recording_problem(optimizer_class: type[torch.optim.Optimizer]):
    """The full-batch problem with an optimizer at 1e-3, a ``train_step`` that records each step's
    LR in ``steps`` and an ``evaluate`` of the validation loss."""
    model, (x, y), (x_val, y_val) = full_batch_problem()
    optimizer = optimizer_class(model.parameters(), lr=1e-3)
    steps = []

    def train_step() -> float:
        steps.append(optimizer.param_groups[0]["lr"])
        return full_batch_step(model, optimizer, x, y)

    def evaluate() -> float:
        with torch.no_grad():
            return (model(x_val).squeeze(-1) - y_val).pow(2).mean().item()

    return model, optimizer, steps, train_step, evaluate


def test_the_scheduler_trains_each_of_five_candidates_its_share_of_total_epochs():
    controller = random_controller(
        range_test_steps=30, relative_lr_bounds=(1e-4, 1e4), scale_probe_epochs=1.0, scale_probe_width=2,
        scale_probe_fraction=0.6,
    )  # fmt: skip
    model, optimizer, steps, train_step, evaluate = recording_problem(torch.optim.Adam)
    sched = ControllerScheduler(optimizer, controller, total_epochs=5)
    sched.range_test(model, train_step, evaluate=evaluate, steps_per_epoch=4)
    result, swept = sched.scale_probe_result, len(sched.range_test_result.lrs)
    assert result.lrs == pytest.approx(scale_probe_candidates(sched.range_test_result.suggested_lr, width=2))
    assert len(steps) == swept + 5 * 12  # 3 epochs (0.6 of 5) of 4 steps for each of 5 candidates
    assert [steps[swept + 12 * i] for i in range(5)] == pytest.approx(result.lrs)
    # annealed: each candidate's 12 steps fall along the cosine from its LR
    annealed = dataclasses.replace(controller, scale_probe_anneal=True)
    sched = ControllerScheduler(optimizer, annealed, total_epochs=5)
    steps.clear()
    sched.range_test(model, train_step, evaluate=evaluate, steps_per_epoch=4)
    cosine = [candidate_lr_factor(i, 12, anneal=True) for i in range(12)]
    for i, lr in enumerate(sched.scale_probe_result.lrs):
        assert steps[swept + 12 * i : swept + 12 * (i + 1)] == pytest.approx([lr * f for f in cosine])
    # held: each candidate's first 6 steps stay at its LR, then the cosine
    held = dataclasses.replace(annealed, scale_probe_hold=0.5)
    sched = ControllerScheduler(optimizer, held, total_epochs=5)
    steps.clear()
    sched.range_test(model, train_step, evaluate=evaluate, steps_per_epoch=4)
    for i, lr in enumerate(sched.scale_probe_result.lrs):
        run = steps[swept + 12 * i : swept + 12 * (i + 1)]
        assert run[:6] == pytest.approx([lr] * 6) and run[6:] == pytest.approx([lr * f for f in cosine[::2]])


def test_the_scheduler_walks_past_the_highest_candidate_while_it_wins():
    controller = random_controller(
        range_test_steps=30, relative_lr_bounds=(1e-4, 1e4), scale_probe_epochs=1.0, scale_probe_walk=2
    )
    model, optimizer, trained_at, train_step, _ = recording_problem(torch.optim.SGD)
    sched = ControllerScheduler(optimizer, controller, total_epochs=5)

    def evaluate() -> float:  # a user's score that the higher LR always wins: the walk goes up its two steps
        return -trained_at[-1]

    anchor = sched.range_test(model, train_step, evaluate=evaluate, steps_per_epoch=2)
    result, swept = sched.scale_probe_result, len(sched.range_test_result.lrs)
    candidates = scale_probe_candidates(sched.range_test_result.suggested_lr)
    above = [grid_neighbour(candidates[-1], 1)]
    above.append(grid_neighbour(above[0], 1))
    assert result.lrs == pytest.approx(candidates + above) and anchor == result.best_lr == pytest.approx(above[-1])
    assert len(trained_at) == swept + 5 * 2 and trained_at[swept::2] == pytest.approx(result.lrs)


def test_the_scheduler_climbs_a_decade_a_step_and_scores_the_starting_weights_once():
    controller = random_controller(
        range_test_steps=30, relative_lr_bounds=(1e-4, 1e4), scale_probe_epochs=1.0, scale_probe_walk=1,
        scale_probe_climb=2,
    )  # fmt: skip
    model, optimizer, trained_at, train_step, _ = recording_problem(torch.optim.SGD)
    start = copy.deepcopy(model.state_dict())
    sched = ControllerScheduler(optimizer, controller, total_epochs=5)
    at_start = []

    def evaluate() -> float:  # a user's score that falls a little with each higher LR: the probe climbs
        at_start.append(all(torch.equal(tensor, start[name]) for name, tensor in model.state_dict().items()))
        return 1.0 - 1e-3 * math.log10(trained_at[-1] * 1e12)

    anchor = sched.range_test(model, train_step, evaluate=evaluate, steps_per_epoch=2)
    result, swept = sched.scale_probe_result, len(sched.range_test_result.lrs)
    candidates = scale_probe_candidates(sched.range_test_result.suggested_lr)
    above = [grid_neighbour(candidates[-1], 1)]  # the walk's grid LR, then two decades
    above += [grid_neighbour(above[0], 2), grid_neighbour(above[0], 4)]
    assert result.lrs == pytest.approx(candidates + above) and anchor == result.best_lr == pytest.approx(above[-1])
    assert len(trained_at) == swept + 6 * 2 and trained_at[swept::2] == pytest.approx(result.lrs)
    assert len(at_start) == 7 and at_start.count(True) == 1  # one candidate each, and the starting weights once
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, start[name])


def test_the_scheduler_warns_without_evaluate_and_refuses_a_bad_steps_per_epoch():
    controller = random_controller(range_test_steps=20, scale_probe_epochs=1.0)
    model, (x, y), _ = full_batch_problem()

    def train_step() -> float:
        return torch.nn.functional.mse_loss(model(x).squeeze(-1), y).item()  # no step: enough to sweep

    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    with pytest.warns(UserWarning, match="pass evaluate= and steps_per_epoch="):
        sched = ControllerScheduler(optimizer, controller, total_epochs=3)
        anchor = sched.range_test(model, train_step)
    assert sched.scale_probe_result is None and anchor == sched.range_test_result.suggested_lr
    sched = ControllerScheduler(optimizer, controller, total_epochs=3)
    with pytest.raises(ValueError, match="steps_per_epoch must be a positive integer for the scale probe, got None"):
        sched.range_test(model, train_step, evaluate=lambda: 1.0)


def test_the_probe_round_trips_in_the_file_as_version_7_and_bad_values_name_the_field(tmp_path):
    from safetensors.torch import save_file

    controller = random_controller(range_test_steps=30, anneal_tail=0.25)
    assert "scale_probe" not in controller.metadata() and controller.format_version == 6
    probed = dataclasses.replace(controller, scale_probe_epochs=0.5, scale_probe_decades=1.0)
    assert probed.format_version == 7 and probed.metadata()["scale_probe"] == {"epochs": 0.5, "decades": 1.0}
    loaded = Controller.load(probed.save(tmp_path / "probe.lrc"))
    assert (loaded.scale_probe_epochs, loaded.scale_probe_decades) == (0.5, 1.0)
    assert loaded.env_kwargs()["scale_probe_epochs"] == 0.5
    for field, value, message in [
        ("epochs", "1", "scale_probe epochs must be 0 \\(no probe\\) to 10 epochs, got '1'"),
        ("decades", 0, "scale_probe decades must be in \\(0, 3\\] decades, got 0"),
    ]:
        meta = probed.metadata()
        meta["scale_probe"][field] = value
        save_file(probed.tensors(), tmp_path / "bad.lrc", metadata={"lr_agent": json.dumps(meta)})
        with pytest.raises(ControllerFileError, match=f"bad.lrc: .*{message}"):
            Controller.load(tmp_path / "bad.lrc")
    with pytest.raises(ControllerFileError, match="scale_probe needs a range test"):
        random_controller(scale_probe_epochs=1.0)
    for setting in (
        {"scale_probe_width": 2},
        {"scale_probe_anneal": True},
        {"scale_probe_walk": 2},
        {"scale_probe_climb": 2},
        {"scale_probe_anneal": True, "scale_probe_hold": 0.5},
    ):
        with pytest.raises(
            ControllerFileError, match="scale_probe width, fraction, anneal, hold, walk and climb need a probe"
        ):
            random_controller(range_test_steps=30, **setting)


def test_wider_longer_annealed_walking_climbing_and_held_probes_round_trip_as_versions_8_to_12_older_read_defaults(
    tmp_path,
):
    from safetensors.torch import save_file

    probed = random_controller(range_test_steps=30, scale_probe_epochs=1.0)
    assert probed.format_version == 7 and probed.metadata()["scale_probe"] == {"epochs": 1.0, "decades": 0.5}
    wide = dataclasses.replace(probed, scale_probe_width=2, scale_probe_fraction=0.2)
    assert wide.format_version == 8
    assert wide.metadata()["scale_probe"] == {"epochs": 1.0, "decades": 0.5, "width": 2, "fraction": 0.2}
    loaded = Controller.load(wide.save(tmp_path / "wide.lrc"))
    assert (loaded.scale_probe_width, loaded.scale_probe_fraction) == (2, 0.2)
    assert loaded.env_kwargs()["scale_probe_width"] == 2 and loaded.env_kwargs()["scale_probe_fraction"] == 0.2
    old = Controller.load(probed.save(tmp_path / "v7.lrc"))
    assert (old.scale_probe_width, old.scale_probe_fraction, old.scale_probe_anneal) == (1, 0.0, False)
    annealed = dataclasses.replace(wide, scale_probe_anneal=True)
    assert annealed.format_version == 9 and annealed.metadata()["scale_probe"]["anneal"] is True
    assert Controller.load(annealed.save(tmp_path / "v9.lrc")).env_kwargs()["scale_probe_anneal"] is True
    assert Controller.load(wide.save(tmp_path / "v8.lrc")).scale_probe_anneal is False
    walking = dataclasses.replace(annealed, scale_probe_walk=2)
    assert walking.format_version == 10 and walking.metadata()["scale_probe"]["walk"] == 2
    assert Controller.load(walking.save(tmp_path / "v10.lrc")).env_kwargs()["scale_probe_walk"] == 2
    assert (
        Controller.load(tmp_path / "v9.lrc").scale_probe_walk == 0 and "walk" not in annealed.metadata()["scale_probe"]
    )
    climbing = dataclasses.replace(walking, scale_probe_climb=4)
    assert climbing.format_version == 11 and climbing.metadata()["scale_probe"]["climb"] == 4
    assert Controller.load(climbing.save(tmp_path / "v11.lrc")).env_kwargs()["scale_probe_climb"] == 4
    assert (
        Controller.load(tmp_path / "v10.lrc").scale_probe_climb == 0
        and "climb" not in walking.metadata()["scale_probe"]
    )
    held = dataclasses.replace(climbing, scale_probe_hold=0.75)
    assert held.format_version == 12 and held.metadata()["scale_probe"]["hold"] == 0.75
    assert Controller.load(held.save(tmp_path / "v12.lrc")).env_kwargs()["scale_probe_hold"] == 0.75
    assert (
        Controller.load(tmp_path / "v11.lrc").scale_probe_hold == 0.0
        and "hold" not in climbing.metadata()["scale_probe"]
    )
    with pytest.raises(ControllerFileError, match="scale_probe hold 0.5 needs anneal true"):
        dataclasses.replace(wide, scale_probe_hold=0.5)
    meta = wide.metadata()
    meta["scale_probe"]["hold"] = 0.5  # and no anneal
    save_file(wide.tensors(), tmp_path / "held.lrc", metadata={"lr_agent": json.dumps(meta)})
    with pytest.raises(ControllerFileError, match="held.lrc: .*scale_probe hold 0.5 needs anneal true"):
        Controller.load(tmp_path / "held.lrc")
    for field, value, message in [
        ("walk", 5, "scale_probe walk must be 0 \\(no walk\\) to 4 more grid LRs, got 5"),
        ("climb", 1.5, "scale_probe climb must be 0 \\(no climb\\) to 6 more LRs, got 1.5"),
        ("width", 1.5, "scale_probe width must be 1, 2 or 3 grid LRs either side, got 1.5"),
        ("fraction", -0.1, "scale_probe fraction must be in \\[0, 1\\) of the run's epochs, got -0.1"),
        ("anneal", "yes", "scale_probe anneal must be true or false, got 'yes'"),
        ("hold", 1, "scale_probe hold must be in \\[0, 1\\) of a candidate's steps, got 1"),
    ]:
        meta = wide.metadata()
        meta["scale_probe"][field] = value
        save_file(wide.tensors(), tmp_path / "bad.lrc", metadata={"lr_agent": json.dumps(meta)})
        with pytest.raises(ControllerFileError, match=f"bad.lrc: .*{message}"):
            Controller.load(tmp_path / "bad.lrc")


def test_ensemble_sets_the_probe_and_refuses_it_without_a_range_test():
    members = [random_controller(seed, range_test_steps=30) for seed in (1, 2)]
    combined = ensemble(members, scale_probe_epochs=0.25, flags=True)
    assert (combined.scale_probe_epochs, combined.scale_probe_decades) == (0.25, 0.5)
    longer = ensemble(members, scale_probe_epochs=1.0, scale_probe_width=2, scale_probe_fraction=0.2, flags=True)
    assert (longer.scale_probe_width, longer.scale_probe_fraction, longer.format_version) == (2, 0.2, 8)
    annealed = ensemble(members, scale_probe_epochs=1.0, scale_probe_fraction=0.3, scale_probe_anneal=True, flags=True)
    assert annealed.scale_probe_anneal is True and annealed.format_version == 9
    walking = ensemble(members, scale_probe_epochs=1.0, scale_probe_walk=2, flags=True)
    assert walking.scale_probe_walk == 2 and walking.format_version == 10
    climbing = ensemble(members, scale_probe_epochs=1.0, scale_probe_walk=2, scale_probe_climb=4, flags=True)
    assert climbing.scale_probe_climb == 4 and climbing.format_version == 11
    held = ensemble(members, scale_probe_epochs=1.0, scale_probe_anneal=True, scale_probe_hold=0.5, flags=True)
    assert held.scale_probe_hold == 0.5 and held.format_version == 12
    with pytest.raises(ControllerFileError, match="scale_probe hold 0.5 needs anneal true"):
        ensemble(members, scale_probe_epochs=1.0, scale_probe_hold=0.5, flags=True)  # the members do not anneal
    with pytest.raises(ValueError, match="--scale-probe-hold must be in \\[0, 1\\) of a candidate's steps, got 2"):
        ensemble(members, scale_probe_epochs=1.0, scale_probe_anneal=True, scale_probe_hold=2, flags=True)
    with pytest.raises(ValueError, match="--scale-probe-climb must be 0 \\(no climb\\) to 6 more LRs, got 9"):
        ensemble(members, scale_probe_epochs=1.0, scale_probe_climb=9, flags=True)
    with pytest.raises(ValueError, match="--scale-probe-walk must be 0 \\(no walk\\) to 4 more grid LRs, got -1"):
        ensemble(members, scale_probe_epochs=1.0, scale_probe_walk=-1, flags=True)
    with pytest.raises(ValueError, match="--scale-probe-anneal must be True or False, got 'yes'"):
        ensemble(members, scale_probe_epochs=1.0, scale_probe_anneal="yes", flags=True)
    with pytest.raises(ValueError, match="--scale-probe-fraction must be in \\[0, 1\\) of the run's epochs, got 2"):
        ensemble(members, scale_probe_epochs=1.0, scale_probe_fraction=2, flags=True)
    with pytest.raises(ValueError, match="--scale-probe-epochs must be 0 \\(no probe\\) to 10 epochs, got 11"):
        ensemble(members, scale_probe_epochs=11, flags=True)
    untested = [random_controller(seed) for seed in (1, 2)]
    with pytest.raises(ValueError, match="--scale-probe-epochs: controller 1 has no range test to change or check"):
        ensemble(untested, scale_probe_epochs=0.25, flags=True)
