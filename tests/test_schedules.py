import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from lr_agent.episodes import run_episode
from lr_agent.errors import UnknownNameError
from lr_agent.schedules import (
    SCHEDULES,
    Constant,
    Cosine,
    Exponential,
    RangeTestCosine,
    ReduceOnPlateau,
    ScheduleLR,
    Step,
    WarmupCosine,
    anneal_factor,
    check_anchor_jitter,
    check_anneal_tail,
    check_range_test_extend,
    check_range_test_fraction,
    is_adaptive,
    lr_range_test,
    make_schedule,
    range_test_fraction_for,
    range_test_limits,
    range_test_sweep,
)
from tests.conftest import SEED


def torch_lrs(schedule, epochs, lr=0.1, val_losses=None, probe=None):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = ScheduleLR(opt, schedule, total_epochs=epochs, probe=probe)
    lrs = []
    for epoch in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step(val_loss=None if val_losses is None else val_losses[epoch])
    return lrs


@pytest.mark.parametrize(
    "schedule, expected",
    [
        (Constant(), [0.1] * 4),
        (Step(gamma=0.1, every=2), [0.1, 0.1, 0.01, 0.01]),
        (Exponential(final=0.01), [0.1, 0.1 * 0.01 ** (1 / 3), 0.1 * 0.01 ** (2 / 3), 0.001]),
        (Cosine(), [0.1, 0.1 * (1 + math.cos(math.pi / 4)) / 2, 0.05, 0.1 * (1 + math.cos(3 * math.pi / 4)) / 2]),
        (WarmupCosine(warmup=0.5), [0.05, 0.1, 0.1, 0.05]),
    ],
)
def test_torch_scheduler_gives_the_documented_lr_sequence(schedule, expected):
    assert torch_lrs(schedule, 4) == pytest.approx(expected)


def torch_cosine_lrs(epochs, lr):
    """The LRs of torch's own ``CosineAnnealingLR`` over ``epochs``."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    reference = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        reference.step()
    return lrs


def test_cosine_matches_torch_cosine_annealing():
    expected = torch_cosine_lrs(7, lr=0.1)
    assert torch_lrs(Cosine(), 7) == pytest.approx(expected)
    assert [anneal_factor(t / 7, 1.0) * 0.1 for t in range(7)] == pytest.approx(expected)  # a tail over the run


def test_an_anneal_tail_is_cosine_over_the_last_epochs_and_one_before():
    cosine = torch_cosine_lrs(4, lr=1.0)
    factors = [anneal_factor(t / 10, 0.4) for t in range(10)]
    assert factors == pytest.approx([1.0] * 6 + cosine)  # the last 4 of 10 epochs
    assert [anneal_factor(t / 10, 0.0) for t in range(10)] == [1.0] * 10
    assert anneal_factor(1.5, 0.4) == pytest.approx(0.0)  # past the budget it stays at the end, not back up
    for bad in (-0.1, 1.5, float("nan"), True, "0.3"):
        with pytest.raises(ValueError, match=r"--anneal-tail must be a share of the budget in \[0, 1\], got"):
            check_anneal_tail(bad, "--anneal-tail")


def test_plateau_halves_after_patience_bad_epochs():
    losses = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85]
    assert torch_lrs(ReduceOnPlateau(gamma=0.5, patience=2), 7, val_losses=losses) == pytest.approx(
        [0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05]
    )


def test_several_param_groups_keep_their_ratios():
    a, b = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.01}], lr=0.1)
    sched = ScheduleLR(opt, Step(gamma=0.5, every=1), total_epochs=3)
    opt.step()
    sched.step()
    assert sched.get_last_lr() == pytest.approx([0.05, 0.005])


def test_scheduler_state_dict_round_trips_through_torch_save_weights_only(tmp_path):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = ScheduleLR(opt, ReduceOnPlateau(patience=0), total_epochs=10)
    for loss in (1.0, 1.0, 1.0):
        opt.step()
        sched.step(val_loss=loss)
    torch.save(sched.state_dict(), tmp_path / "s.pt")
    opt2 = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    restored = ScheduleLR(opt2, ReduceOnPlateau(patience=0), total_epochs=10)
    restored.load_state_dict(torch.load(tmp_path / "s.pt", weights_only=True))
    assert restored.schedule.scale == sched.schedule.scale == 0.25
    assert restored.last_epoch == sched.last_epoch


def quadratic():
    """One gradient-descent step on f(w) = w^2 / 2 per call, from w = 5: the loss falls for lr < 2
    (to 0 at lr = 1) and diverges above."""
    w = torch.tensor([5.0])

    def train_step(lr):
        w.sub_(lr * w)
        return float(0.5 * w.item() ** 2)

    return train_step


def test_lr_range_test_finds_the_edge_of_stability_of_a_quadratic():
    result = lr_range_test(quadratic(), 1e-4, 10.0, num_steps=60, smoothing=1.0)
    assert 0.5 < result.best_lr < 2.1
    assert result.suggested_lr == pytest.approx(result.best_lr * 0.1)
    assert result.lrs == sorted(result.lrs)


def test_lr_range_test_goes_past_its_end_only_while_the_loss_still_falls():
    short = lr_range_test(quadratic(), 2e-4, 0.2, num_steps=31, smoothing=1.0)
    assert short.best_lr == pytest.approx(0.2)  # stopped with the loss still falling
    extended = lr_range_test(quadratic(), 2e-4, 0.2, num_steps=31, smoothing=1.0, lr_ceiling=100.0)
    assert 0.5 < extended.best_lr < 2.1 and extended.lrs[:31] == short.lrs
    assert extended.losses[-1] >= min(extended.losses[:-1]) and len(extended.lrs) < 31 + 26  # stopped: no new low
    turned = lr_range_test(quadratic(), 1e-4, 2.5, num_steps=50, smoothing=1.0)  # ends past the minimum, not 4x
    assert len(turned.lrs) == 50 and turned.losses[-1] > min(turned.losses)
    assert lr_range_test(quadratic(), 1e-4, 2.5, num_steps=50, smoothing=1.0, lr_ceiling=1e4).lrs == turned.lrs
    flat = lr_range_test(lambda lr: 1.0, 1e-4, 0.1, num_steps=31, lr_ceiling=100.0)
    assert len(flat.lrs) == 31  # a loss that does not fall never extends the sweep
    for bad in (float("inf"), float("nan"), 0.0):
        with pytest.raises(ValueError, match="lr_ceiling must be a positive finite LR"):
            lr_range_test(quadratic(), 1e-4, 0.1, lr_ceiling=bad)


def noisy_plateau(rise_lr, seed=0):
    """Batch losses of 1 ± 0.1 (seeded noise) whatever the LR, until the LR passes ``rise_lr``,
    where the loss grows tenfold a decade: a run whose probe finds no fall, only a rise."""
    rng = np.random.default_rng(seed)
    return lambda lr: 1.0 + 0.1 * rng.standard_normal() + 10 * max(0.0, math.log10(lr / rise_lr))


def test_on_a_plateau_the_flat_fallback_suggests_from_where_the_loss_rises_not_its_noisy_minimum():
    noisy = lr_range_test(noisy_plateau(rise_lr=0.3), 1e-6, 10.0, num_steps=120)
    assert noisy.best_lr < 0.03 and not noisy.flat  # the minimum of the noise, anywhere below the rise
    flat = lr_range_test(noisy_plateau(rise_lr=0.3), 1e-6, 10.0, num_steps=120, flat_fallback=True)
    assert flat.flat and flat.lrs == noisy.lrs and flat.losses == noisy.losses
    assert 0.3 < flat.best_lr < 1.0 and flat.suggested_lr == pytest.approx(flat.best_lr * 0.1)
    never = lr_range_test(noisy_plateau(rise_lr=1e3), 1e-6, 10.0, num_steps=120, flat_fallback=True)
    assert never.flat and never.best_lr == never.lrs[-1]  # no rise either: the top of the sweep
    # a loss that falls clearly beyond its noise keeps the minimum: the fallback changes nothing
    plain = lr_range_test(quadratic(), 1e-4, 10.0, num_steps=60, smoothing=0.2)
    checked = lr_range_test(quadratic(), 1e-4, 10.0, num_steps=60, smoothing=0.2, flat_fallback=True)
    assert plain == checked and not checked.flat


def test_a_lucky_first_batch_on_a_plateau_does_not_anchor_the_range_test_at_the_bottom_of_its_sweep():
    losses = iter([0.5])  # the first batch happens to be easy; then a plateau at 0.7 with a shallow dip at LR 0.1

    def train_step(lr):
        return next(losses, 0.7 - 0.1 * math.exp(-((math.log10(lr) + 1) ** 2) * 4))

    result = lr_range_test(train_step, 1e-6, 10.0, num_steps=71)
    assert 0.03 < result.best_lr < 0.3 and result.losses[0] < min(result.losses[10:])
    noisy = iter([0.1, 1.0, 1.0])  # two batches 10x apart at the start do not stop the sweep
    result = lr_range_test(
        lambda lr: next(noisy, 0.7 - 0.1 * math.exp(-((math.log10(lr) + 1) ** 2) * 4)), 1e-6, 10.0, 71
    )
    assert len(result.lrs) > 40 and 0.03 < result.best_lr < 0.3
    short = lr_range_test(
        lambda lr: abs(math.log10(lr) + 2), 1e-4, 1.0, num_steps=10
    )  # warm-up: half the sweep at most
    assert 0.005 < short.best_lr < 0.05
    flat = lr_range_test(lambda lr: 0.7, 1e-4, 1.0, num_steps=30, lr_ceiling=100.0)
    assert set(flat.losses) == {0.7} and len(flat.lrs) == 30  # the bias-corrected average of equal losses is exact
    for bad in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="smoothing must be in"):
            lr_range_test(lambda lr: 1.0, smoothing=bad)


def test_range_test_sweep_tries_the_same_lrs_from_starts_a_decade_apart():
    def grid(start):  # the LRs lr_range_test itself tries over the sweep (a flat loss never stops it)
        return lr_range_test(lambda lr: 1.0, *range_test_sweep(start, (1e-3, 1e5), 121), num_steps=121).lrs

    from_high, from_low = grid(0.1), grid(0.001)
    assert from_high[0] <= 0.1 * 1e-3 < from_high[1]  # covers the span, snapped down
    assert from_low[30:] == pytest.approx(from_high[:-30], rel=1e-9)  # two decades = 30 grid steps
    off_grid = grid(0.05)
    assert off_grid[0] <= 0.05 * 1e-3 < off_grid[1]
    assert min(abs(math.log10(x / from_high[10])) for x in off_grid) < 1e-9  # same grid of LRs
    for start in (1e-4, 3e-4, 1e-3, 0.01, 0.05, 0.1):  # the earlier 120-step recipe: 14.875 steps a decade
        low, high = range_test_sweep(start, (1e-4, 1e4), 120)
        step = (high / low) ** (1 / 119)
        assert low <= start * 1e-4 < low * step and high / low == pytest.approx(1e8)


def test_range_test_limits_add_the_extension_to_the_sweep_and_refuse_a_bad_one():
    low, high = range_test_sweep(0.01, (1e-4, 1e4), 121)
    assert range_test_limits(0.01, (1e-4, 1e4), 121) == (low, high, high)
    assert range_test_limits(0.01, (1e-4, 1e4), 121, 2.0)[2] == pytest.approx(high * 100)
    for bad in (-1.0, 10.5, float("nan")):
        with pytest.raises(ValueError, match="range_test_extend must be 0 to 10 decades"):
            range_test_limits(0.01, (1e-4, 1e4), 121, bad)


def test_the_range_test_settings_take_any_real_number_in_range_and_name_the_setting_otherwise():
    import numpy as np

    assert check_range_test_fraction(np.float32(0.2)) == np.float32(0.2)
    assert check_range_test_extend(np.int64(2)) == 2
    for bad in (0, 1.5, float("nan"), True, "0.2"):
        with pytest.raises(ValueError, match=r"--range-test-fraction must be in \(0, 1\], got"):
            check_range_test_fraction(bad, "--range-test-fraction")
    with pytest.raises(ValueError, match="range_test_extend must be 0 to 10 decades, got True"):
        check_range_test_extend(True)
    assert check_anchor_jitter(np.float64(0.5)) == 0.5
    with pytest.raises(ValueError, match="anchor_jitter must be 0 to 3 decades, got True"):
        check_anchor_jitter(True)
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\], got 2"):
        lr_range_test(lambda lr: 1.0, fraction=2)


def test_range_test_cosine_needs_a_probe():
    with pytest.raises(ValueError, match="needs a probe"):
        torch_lrs(RangeTestCosine(), 3)
    assert torch_lrs(RangeTestCosine(), 2, probe=lambda: 0.03) == pytest.approx([0.03, 0.015])


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_schedule_runs_as_a_policy_on_the_env_with_its_own_lrs(name):
    env = gym.make("lr_agent/wine-mlp-v0", epochs=4, lr=0.01)
    schedule = make_schedule(name)
    result = run_episode(env, schedule, seed=SEED)
    assert len(result.records) == 4
    lrs = [r["lr"] for r in result.records]
    if name == "range-test-cosine":
        assert result.final["probe_steps"] > 0
        assert lrs[0] == pytest.approx(schedule.found_lr)
    else:
        replay = torch_lrs(make_schedule(name), 4, lr=0.01, val_losses=[r["val_loss"] for r in result.records])
        assert lrs == pytest.approx(replay)


def test_range_test_restores_the_weights():
    env = gym.make("lr_agent/wine-mlp-v0", epochs=2, lr=0.01)
    env.reset(seed=SEED)
    before = {k: v.clone() for k, v in env.unwrapped.workload.model.state_dict().items()}
    env.unwrapped.lr_range_test(num_steps=30)
    after = env.unwrapped.workload.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_unknown_schedule_lists_the_valid_names():
    with pytest.raises(UnknownNameError, match="valid: constant, cosine"):
        make_schedule("onecycle")


def test_adaptive_optimizers_get_their_own_range_test_fraction():
    params = [torch.nn.Parameter(torch.zeros(2))]
    adaptive = [torch.optim.Adam, torch.optim.AdamW, torch.optim.NAdam, torch.optim.RAdam, torch.optim.Adamax,
                torch.optim.RMSprop, torch.optim.Adagrad, torch.optim.Adadelta]  # fmt: skip
    assert all(is_adaptive(cls(params, lr=0.1)) for cls in adaptive)
    sgd = torch.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True)
    assert not is_adaptive(sgd) and not is_adaptive(torch.optim.ASGD(params, lr=0.1))
    assert is_adaptive(torch.optim.Adafactor(params, lr=0.01))

    class Wrapper(torch.optim.Optimizer):  # keeps the optimizer it wraps as .optimizer, as Accelerate's does
        def __init__(self, optimizer):
            self.optimizer, self.defaults, self.param_groups = optimizer, optimizer.defaults, optimizer.param_groups

    assert is_adaptive(Wrapper(torch.optim.RMSprop(params, lr=0.1))) and not is_adaptive(Wrapper(sgd))

    class OtherLibrarysAdam(torch.optim.Optimizer):  # an Adam-like optimizer known by its betas
        def __init__(self, params):
            super().__init__(params, {"lr": 1e-3, "betas": (0.9, 0.999)})

    assert is_adaptive(OtherLibrarysAdam(params))
    adam = torch.optim.Adam(params, lr=0.1)
    assert (range_test_fraction_for(adam, 0.1, 0.3), range_test_fraction_for(sgd, 0.1, 0.3)) == (0.3, 0.1)
    assert range_test_fraction_for(adam, 0.1, None) == 0.1
