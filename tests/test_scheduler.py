import copy
import math

import numpy as np
import pytest
import torch

from lr_agent import Controller, ControllerScheduler, TrainingRunEnv, get_spec
from lr_agent.compare import controller_env
from lr_agent.episodes import run_episode
from lr_agent.schedules import anneal_factor
from lr_agent.workloads import SupervisedWorkload
from tests.conftest import SEED, random_controller


def same_run_factory(config):
    return lambda rng: SupervisedWorkload(config, seed=SEED)


@pytest.mark.parametrize("make", [random_controller, Controller.pretrained], ids=["random", "pretrained"])
def test_scheduler_makes_the_same_decisions_as_the_env_on_the_same_run(make):
    controller = make()
    config = get_spec("wine-mlp").sample(np.random.default_rng(SEED), epochs=8, lr=0.01, optimizer="sgd")
    settings = dict(multipliers=controller.multipliers, relative_lr_bounds=controller.relative_lr_bounds)
    env = TrainingRunEnv(same_run_factory(config), **settings, anneal_tail=controller.anneal_tail)  # no range test
    episode = run_episode(env, controller.act, seed=SEED)
    env_lrs = [r["lr"] for r in episode.records]

    run = SupervisedWorkload(config, seed=SEED)
    sched = ControllerScheduler(run.optimizer, controller, total_epochs=config.epochs)
    sched_lrs = []
    for _ in range(config.epochs):
        sched_lrs.append(run.optimizer.param_groups[0]["lr"])
        train_loss = run.train(run.steps_per_epoch)
        sched.step(train_loss=train_loss, val_loss=run.evaluate().loss)
    assert sched_lrs == env_lrs
    if make is random_controller:
        assert len(set(env_lrs)) > 2  # the test would be weak if the LR never moved


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_range_test_anchors_the_scheduler_as_it_anchors_the_env(optimizer):
    probe = dict(range_test_steps=40, range_test_span=(1e-2, 10.0), range_test_extend=3.0)  # stops short, extends
    settings = dict(relative_lr_bounds=(1e-4, 1e4), range_test_adaptive_fraction=0.5, anneal_tail=0.5)
    controller = random_controller(**settings, **probe)
    config = get_spec("wine-mlp").sample(np.random.default_rng(SEED), epochs=6, lr=1e-3, optimizer=optimizer)
    env = controller_env(same_run_factory(config), controller)  # as experiments and comparisons build it
    episode = run_episode(env, controller.act, seed=SEED)
    assert env.probe_steps > 40 or optimizer == "adam"  # the extension ran (SGD)
    env_lrs = [r["lr"] for r in episode.records]

    run = SupervisedWorkload(config, seed=SEED)
    sched = ControllerScheduler(run.optimizer, controller, total_epochs=config.epochs)
    weights = copy.deepcopy(run.model.state_dict())
    batch_order = copy.deepcopy({k: v for k, v in run.state_dict().items() if k not in ("model", "optimizer")})
    anchor = sched.range_test(run.model, lambda: run.train(1))
    assert all(torch.equal(weights[k], v) for k, v in run.model.state_dict().items())  # the probe left no trace
    run.generator.set_state(batch_order["generator"])  # as the env does, rewind the batches the probe used
    run._order, run._position = batch_order["order"], batch_order["position"]
    assert anchor == pytest.approx(env.anchor_lr) and anchor != 1e-3
    assert sched.lr_bounds == pytest.approx(env.lr_bounds)
    sched_lrs = []
    for _ in range(config.epochs):
        sched_lrs.append(run.optimizer.param_groups[0]["lr"])
        sched.step(train_loss=run.train(run.steps_per_epoch), val_loss=run.evaluate().loss)
    assert sched_lrs == pytest.approx(env_lrs)
    assert env_lrs[-1] == pytest.approx(env.tracker.lr * anneal_factor(5 / 6, 0.5)) and env.tracker.lr > env_lrs[-1]


def test_the_scheduler_anchors_an_adaptive_optimizer_at_the_controllers_fraction_for_it():
    anchors = []
    for adaptive in (None, 0.5):
        controller = random_controller(range_test_steps=40, range_test_adaptive_fraction=adaptive)
        config = get_spec("wine-mlp").sample(np.random.default_rng(SEED), epochs=2, lr=1e-3, optimizer="adam")
        run = SupervisedWorkload(config, seed=SEED)
        sched = ControllerScheduler(run.optimizer, controller, total_epochs=config.epochs)
        anchors.append(sched.range_test(run.model, lambda run=run: run.train(1)))
    assert anchors[1] == pytest.approx(5 * anchors[0])


def test_range_test_runs_once_survives_a_save_and_restore_and_warns_on_untrained_controllers(tmp_path):
    controller = random_controller(range_test_steps=30, relative_lr_bounds=(1e-4, 1e4))
    config = get_spec("wine-mlp").sample(np.random.default_rng(SEED), epochs=6, lr=1e-3, optimizer="sgd")
    run = SupervisedWorkload(config, seed=SEED)
    sched = ControllerScheduler(run.optimizer, controller, total_epochs=config.epochs)
    anchor = sched.range_test(run.model, lambda: run.train(1))
    assert sched._step_count == 1  # the range test re-decided the first LR without an extra step
    with pytest.raises(RuntimeError, match="runs once"):
        sched.range_test(run.model, lambda: run.train(1))
    for _ in range(2):
        sched.step(train_loss=run.train(run.steps_per_epoch), val_loss=run.evaluate().loss)
    torch.save(sched.state_dict(), tmp_path / "sched.pt")
    restored = ControllerScheduler(run.optimizer, controller, total_epochs=config.epochs)
    restored.load_state_dict(torch.load(tmp_path / "sched.pt", weights_only=True))
    assert restored.tracker.initial_lr == anchor != 1e-3 and restored.range_tested
    np.testing.assert_array_equal(restored.tracker.observation(), sched.tracker.observation())
    losses = {"train_loss": run.train(run.steps_per_epoch), "val_loss": run.evaluate().loss}
    sched.step(**losses)
    restored.step(**losses)
    assert restored.get_last_lr() == sched.get_last_lr()

    untrained = ControllerScheduler(one_param_optimizer(), random_controller(), total_epochs=3)
    with pytest.warns(UserWarning, match="not trained from a range test"):
        untrained.range_test(torch.nn.Linear(1, 1), lambda: 1.0)


def one_param_optimizer(lr=0.1, groups=1):
    params = [torch.zeros(1, requires_grad=True) for _ in range(groups)]
    return torch.optim.SGD([{"params": [p], "lr": lr / (10**i)} for i, p in enumerate(params)], lr=lr)


def test_param_groups_keep_their_ratios_and_val_loss_may_be_none():
    opt = one_param_optimizer(groups=2)
    sched = ControllerScheduler(opt, random_controller(), total_epochs=6)
    for loss in (2.0, 1.5, 1.2, 1.1, 1.0):
        opt.step()
        sched.step(train_loss=loss, val_loss=None)
        lrs = sched.get_last_lr()
        assert lrs[1] == pytest.approx(lrs[0] / 10)


def test_non_finite_loss_cuts_the_lr_and_never_gives_nan():
    controller = random_controller()
    opt = one_param_optimizer()
    sched = ControllerScheduler(opt, controller, total_epochs=10)
    opt.step()
    sched.step(train_loss=1.0, val_loss=1.0)
    before = sched.get_last_lr()[0]
    for bad in (math.nan, math.inf):
        opt.step()
        sched.step(train_loss=bad, val_loss=bad)
        after = sched.get_last_lr()[0]
        assert math.isfinite(after)
        low = sched.lr_bounds[0]
        assert after == pytest.approx(max(before * controller.divergence_cut, low))
        before = after


def test_lr_stays_within_the_controller_bounds_relative_to_the_start():
    always_up = random_controller()
    always_up.head[1][:] = torch.tensor([0, 0, 0, 0, 0, 0, 1e6])  # always x10
    opt = one_param_optimizer(lr=0.01)
    sched = ControllerScheduler(opt, always_up, total_epochs=10)
    for _ in range(9):
        opt.step()
        sched.step(train_loss=1.0, val_loss=1.0)
    high = 0.01 * always_up.relative_lr_bounds[1]
    assert sched.get_last_lr()[0] == pytest.approx(high)


def test_state_dict_round_trips_through_torch_save_weights_only(tmp_path):
    controller = random_controller()
    opt = one_param_optimizer()
    sched = ControllerScheduler(opt, controller, total_epochs=10)
    for loss in (2.0, 1.5, 1.2):
        opt.step()
        sched.step(train_loss=loss, val_loss=loss * 1.1)
    torch.save(sched.state_dict(), tmp_path / "sched.pt")
    opt2 = one_param_optimizer()
    restored = ControllerScheduler(opt2, controller, total_epochs=10)
    restored.load_state_dict(torch.load(tmp_path / "sched.pt", weights_only=True))
    for loss in (1.0, 0.9, 0.95):
        opt.step()
        opt2.step()
        sched.step(train_loss=loss, val_loss=loss)
        restored.step(train_loss=loss, val_loss=loss)
        assert restored.get_last_lr() == sched.get_last_lr()
    other = ControllerScheduler(one_param_optimizer(), random_controller(seed=5), total_epochs=10)
    with pytest.raises(ValueError, match=f"saved with controller {controller.fingerprint}, this scheduler runs"):
        other.load_state_dict(torch.load(tmp_path / "sched.pt", weights_only=True))


def test_step_without_train_loss_is_a_clear_error():
    sched = ControllerScheduler(one_param_optimizer(), random_controller(), total_epochs=3)
    with pytest.raises(ValueError, match="needs train_loss"):
        sched.step()


def test_load_state_dict_sets_the_optimizer_to_the_restored_lr():
    controller = random_controller()
    opt = one_param_optimizer()
    sched = ControllerScheduler(opt, controller, total_epochs=10)
    for loss in (2.0, 1.5, 1.2, 1.0):
        opt.step()
        sched.step(train_loss=loss, val_loss=loss)
    opt2 = one_param_optimizer()
    restored = ControllerScheduler(opt2, controller, total_epochs=10)
    restored.load_state_dict(sched.state_dict())
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == sched.get_last_lr()[0]


def test_a_controller_factor_that_is_not_finite_falls_back_to_the_cut():
    controller = random_controller()
    opt = one_param_optimizer()
    sched = ControllerScheduler(opt, controller, total_epochs=5)
    before = sched.get_last_lr()[0]
    controller.lr_factor = lambda observation: math.nan
    opt.step()
    sched.step(train_loss=1.0, val_loss=1.0)
    assert sched.get_last_lr()[0] == pytest.approx(max(before * controller.divergence_cut, sched.lr_bounds[0]))
