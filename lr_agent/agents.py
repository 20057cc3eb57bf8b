"""Training controller agents with stable-baselines3, and turning a trained agent into a :class:`Controller`.

A run folder holds everything of one training run::

    RUN_DIR/options.json          the TrainOptions used
    RUN_DIR/checkpoints/latest    name of the newest complete checkpoint
    RUN_DIR/checkpoints/step_*/   model.zip and vecnormalize.pkl (SB3's own formats)
    RUN_DIR/logs/                 progress.csv and TensorBoard events
    RUN_DIR/eval/evaluations.npz  returns on the held-out specs, by timestep

Checkpoints are written to a temporary folder, renamed into place, and only
then named in ``latest`` (itself replaced atomically), so a kill at any moment
leaves the last good checkpoint readable.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from lr_agent.controller import Controller, atomic_write
from lr_agent.env import TrainingRunEnv
from lr_agent.errors import UnknownNameError
from lr_agent.options import from_toml, option
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
from lr_agent.schedules import (
    check_anchor_jitter,
    check_anneal_tail,
    check_range_test_extend,
    check_range_test_fraction,
)

ALGORITHMS = ("ppo", "a2c", "dqn", "sac")
_ACTION_MODE = {"dqn": "discrete", "sac": "continuous"}


SHAPE_MULTIPLIERS = (0.5, 0.7, 0.85, 1.0, 1.2, 1.5, 2.0)
"""The default action set of training: with the scale from a range test, moves that shape the schedule."""


@dataclass
class TrainOptions:
    """Train an LR controller agent with stable-baselines3 over a mix of workload specs."""

    specs: list[str] = option(
        help="workload specs to train on (catalogue names or .toml paths); each episode draws one",
        factory=lambda: ["digits-mlp", "wine-mlp", "breast-cancer-mlp", "diabetes-regression", "moons-mlp"],
    )
    eval_specs: list[str] = option(
        help="held-out specs the agent is evaluated on during training (never trained on)",
        factory=lambda: ["friedman-regression", "synthetic-classes-mlp"],
    )
    algo: str = option("ppo", "stable-baselines3 algorithm: dqn is discrete, sac continuous", choices=ALGORITHMS)
    action_mode: str = option("discrete", "discrete (LR multipliers) or continuous (log-scale factor)")
    envs: int = option(2, "training runs stepped in parallel (one process or Ray actor each when more than one)")
    ray: bool = option(False, "step the training runs as Ray actors (CPUs and GPUs of a machine or a cluster)")
    address: str | None = option(None, "address of a running Ray cluster to join; default: a local instance")
    envs_per_actor: int = option(1, "with --ray: training runs per actor, stepped in threads (fewer Ray calls)")
    total_steps: int = option(20_000, "env steps (epochs) to train for, over all parallel envs")
    seed: int = option(0, "seed of the agent and of the env draws")
    out: Path = option(Path("runs/train"), "run folder: checkpoints, logs, evaluations")
    resume: bool = option(False, "continue from the last checkpoint in --out")
    relative_lr_bounds: tuple[float, float] = option(
        (1e-4, 1e4), "LR bounds as factors on each run's anchor LR; exported with the controller"
    )
    multipliers: tuple[float, ...] = option(SHAPE_MULTIPLIERS, "discrete action set: factors applied to the LR")
    max_log10_step: float = option(1.0, "continuous actions: decades the LR may move per step")
    max_epochs: int | None = option(None, "cap on each episode's epochs (default: the specs' own budgets)")
    range_test_steps: int = option(
        121, "start every run from an LR range test of this many steps (0: none); exported with the controller"
    )
    range_test_fraction: float = option(0.1, "the range test suggests this fraction of the LR at its loss minimum")
    range_test_span: tuple[float, float] = option(
        (1e-4, 1e4), "the LRs the range test sweeps, as factors on the initial LR"
    )
    range_test_extend: float = option(
        0.0, "decades the range test may sweep past its span while the loss still falls; exported"
    )
    anchor_jitter: float = option(
        0.0, "training runs only: move each run's anchor by a random factor of up to this many decades either way"
    )
    eval_every: int = option(2_000, "env steps between evaluations on the held-out specs")
    eval_episodes: int = option(4, "episodes per evaluation")
    checkpoint_every: int = option(2_000, "env steps between checkpoints")
    algo_kwargs: dict[str, Any] = option(
        help="extra keyword arguments for the algorithm, as JSON (learning_rate, n_steps, gamma, ...)", factory=dict
    )

    def __post_init__(self) -> None:
        if self.algo not in ALGORITHMS:
            raise UnknownNameError("algorithm", self.algo, ALGORITHMS)
        self.action_mode = _ACTION_MODE.get(self.algo, self.action_mode)
        if self.action_mode not in ("discrete", "continuous"):
            raise ValueError(f"action_mode must be 'discrete' or 'continuous', got {self.action_mode!r}")
        for name in ("envs", "envs_per_actor", "total_steps", "eval_every", "eval_episodes", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        check_anchor_jitter(self.anchor_jitter, "--anchor-jitter")
        self.out = Path(self.out)
        self.relative_lr_bounds = tuple(self.relative_lr_bounds)
        self.range_test_span = tuple(self.range_test_span)
        self.multipliers = tuple(self.multipliers)

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> TrainOptions:
        """Read options from a TOML file; ``overrides`` (e.g. from the command line) win."""
        return from_toml(cls, path, **overrides)

    @staticmethod
    def saved(out: str | Path) -> dict[str, Any]:
        """The options a run folder was trained with (empty when it has none)."""
        path = Path(out) / "options.json"
        if not path.exists():
            return {}
        saved = json.loads(path.read_text())
        saved.setdefault("range_test_steps", 0)  # runs from before the range test trained without one
        saved.setdefault("range_test_extend", 0.0)  # nor with its extension
        return saved

    def to_json(self) -> dict[str, Any]:
        """The options as JSON-friendly values."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()}


def env_kwargs(options: TrainOptions, training: bool = False) -> dict[str, Any]:
    """Keyword arguments of :class:`TrainingRunEnv` for these options (shared by training and evaluation;
    ``training`` adds what only the training runs get: the anchor's jitter)."""
    kwargs: dict[str, Any] = {
        "action_mode": options.action_mode,
        "multipliers": options.multipliers,
        "max_log10_step": options.max_log10_step,
        "relative_lr_bounds": options.relative_lr_bounds,
        "range_test_steps": options.range_test_steps,
        "range_test_fraction": options.range_test_fraction,
        "range_test_span": options.range_test_span,
        "range_test_extend": options.range_test_extend,
    }
    if options.max_epochs is not None:
        kwargs["max_epochs"] = options.max_epochs
    if training and options.anchor_jitter:
        kwargs["anchor_jitter"] = options.anchor_jitter
    return kwargs


class BudgetEndTerminates(gym.Wrapper):
    """For agents in training: the end of the run's budget is a terminal state.

    :class:`TrainingRunEnv` reports the budget's end as ``truncated``, Gymnasium's
    time-limit convention, and stable-baselines3 then bootstraps the value of the
    last observation, a state whose value the critic never learns. Yet the run
    is over for good there and its ``progress`` feature says so: the value is zero.
    """

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated or truncated, False, info


@dataclass(frozen=True)
class EnvBuilder:
    """Builds a :class:`TrainingRunEnv` over ``specs`` for an agent, wrapped in :class:`BudgetEndTerminates`.

    Picklable, so it travels to processes and Ray actors.
    """

    specs: tuple[str, ...]
    kwargs: dict[str, Any]
    single_thread: bool = False

    def __call__(self, device: str = "cpu") -> gym.Env:
        if self.single_thread:  # one core per training run when runs go in parallel processes
            torch.set_num_threads(1)
        return BudgetEndTerminates(TrainingRunEnv(list(self.specs), device=device, **self.kwargs))


def make_vec_env(
    options: TrainOptions, specs: list[str], num_envs: int, seed: int, parallel: bool, training: bool = False
):
    """A VecNormalize-wrapped vector env of ``num_envs`` monitored training runs.

    ``parallel``: Ray actors with ``options.ray``, else one process per run (SubprocVecEnv);
    ``training``: the agent learns on these runs (see :func:`env_kwargs`).
    """
    from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize

    if parallel and options.ray:
        from lr_agent.distributed import RayVecEnv

        venv = RayVecEnv(
            [EnvBuilder(tuple(specs), env_kwargs(options, training))] * num_envs, envs_per_actor=options.envs_per_actor
        )
        venv.seed(seed)
    else:
        builder = EnvBuilder(tuple(specs), env_kwargs(options, training), single_thread=parallel)
        vec_cls = SubprocVecEnv if parallel else DummyVecEnv
        venv = sb3_make_vec_env(builder, n_envs=num_envs, seed=seed, vec_env_cls=vec_cls)
    return VecNormalize(venv, norm_obs=True, norm_reward=False, clip_obs=10.0)


def _algorithm(name: str):
    import stable_baselines3 as sb3

    return {"ppo": sb3.PPO, "a2c": sb3.A2C, "dqn": sb3.DQN, "sac": sb3.SAC}[name]


DEFAULT_ALGO_KWARGS: dict[str, dict[str, Any]] = {
    "ppo": {"n_steps": 128, "batch_size": 64, "gamma": 1.0, "ent_coef": 0.01, "policy_kwargs": {"net_arch": [64, 64]}},
    "a2c": {"n_steps": 16, "gamma": 1.0, "ent_coef": 0.01, "policy_kwargs": {"net_arch": [64, 64]}},
    "dqn": {"learning_starts": 500, "gamma": 0.99, "policy_kwargs": {"net_arch": [64, 64]}},
    "sac": {"learning_starts": 500, "gamma": 0.99, "policy_kwargs": {"net_arch": [64, 64]}},
}
"""Defaults per algorithm, tuned for short episodes of cheap epochs; ``algo_kwargs`` overrides them.

On-policy agents are undiscounted (``gamma=1``): the return is then exactly ``ln(initial / final
val loss)``, the run's end quality (see :class:`BudgetEndTerminates`).
"""


class _Checkpoints:
    """Atomic checkpoints of a model and its VecNormalize in ``folder``."""

    def __init__(self, folder: Path, keep: int = 2) -> None:
        self.folder, self.keep = folder, keep

    def latest(self) -> Path | None:
        pointer = self.folder / "latest"
        if not pointer.exists():
            return None
        path = self.folder / pointer.read_text().strip()
        return path if (path / "model.zip").exists() else None

    def save(self, model, venv) -> Path:
        name = f"step_{model.num_timesteps:09d}"
        final, staging = self.folder / name, self.folder / f".{name}.tmp"
        if final == self.latest():
            return final  # this step is saved already; never delete the checkpoint `latest` names
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        model.save(staging / "model.zip")
        venv.save(staging / "vecnormalize.pkl")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
        atomic_write(self.folder / "latest", name.encode())
        for old in sorted(self.folder.glob("step_*"))[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final


def _callbacks(options: TrainOptions, venv, checkpoints: _Checkpoints, eval_env):
    from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EvalCallback
    from tqdm.auto import tqdm

    class Progress(BaseCallback):
        """A progress bar with the mean return of the last episodes."""

        def _on_training_start(self) -> None:
            self.bar = tqdm(total=options.total_steps, initial=self.model.num_timesteps, unit="step", desc="train")

        def _on_step(self) -> bool:
            if self.model.num_timesteps > self.bar.total:  # on-policy rollouts end past the total
                self.bar.total = self.model.num_timesteps
            self.bar.update(self.model.num_timesteps - self.bar.n)
            returns = [info["r"] for info in self.model.ep_info_buffer]
            if returns:
                self.bar.set_postfix(mean_return=f"{np.mean(returns):.3f}", episodes=len(returns), refresh=False)
            return True

        def _on_training_end(self) -> None:
            self.bar.close()

    class Checkpoint(BaseCallback):
        def _on_training_start(self) -> None:
            self.last = self.model.num_timesteps

        def _on_step(self) -> bool:
            if self.model.num_timesteps - self.last >= options.checkpoint_every:
                checkpoints.save(self.model, venv)
                self.last = self.model.num_timesteps
            return True

    evaluate = EvalCallback(
        eval_env,
        n_eval_episodes=options.eval_episodes,
        eval_freq=max(options.eval_every // options.envs, 1),
        log_path=str(options.out / "eval"),
        deterministic=True,
        verbose=0,
    )
    history = options.out / "eval" / "evaluations.npz"
    if history.exists():  # a resumed run keeps the evaluations of its earlier segments
        with np.load(history) as data:
            evaluate.evaluations_timesteps = data["timesteps"].tolist()
            evaluate.evaluations_results = data["results"].tolist()
            evaluate.evaluations_length = data["ep_lengths"].tolist()
    return CallbackList([Progress(), Checkpoint(), evaluate])


def train(options: TrainOptions) -> Path:
    """Train an agent as ``options`` say; return the run folder (see the module docstring)."""
    from stable_baselines3.common.logger import configure

    out = options.out
    checkpoints = _Checkpoints(out / "checkpoints")
    latest = checkpoints.latest()
    if latest is not None and not options.resume:
        raise ValueError(f"{out} already holds checkpoints; pass --resume to continue or choose another --out")
    if options.resume and latest is None:
        raise ValueError(f"--resume: {out} holds no checkpoint to resume from")
    if latest is not None:
        saved = TrainOptions(**TrainOptions.saved(out))
        kept = ("algo", "action_mode", "multipliers", "max_log10_step", "relative_lr_bounds")
        probe = ("range_test_steps", "range_test_fraction", "range_test_span", "range_test_extend", "anchor_jitter")
        for name in (*kept, *probe):
            if getattr(saved, name) != getattr(options, name):
                raise ValueError(
                    f"--resume: {name} {getattr(options, name)!r} differs from the run's {getattr(saved, name)!r}; "
                    "a resumed agent keeps its algorithm, action set, range test and anchor jitter"
                )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "options.json", json.dumps(options.to_json(), indent=2).encode())
    parallel = options.envs > 1 or options.ray
    started_ray = False
    venv = eval_env = None
    started = time.time()
    try:
        if options.ray:
            from lr_agent.distributed import init_ray

            started_ray = init_ray(options.address)
        venv = make_vec_env(options, options.specs, options.envs, options.seed, parallel, training=True)
        eval_env = make_vec_env(options, options.eval_specs, 1, options.seed + 10_000, parallel=False)
        eval_env.training = False
        algo = _algorithm(options.algo)
        if latest is not None:
            from stable_baselines3.common.vec_env import VecNormalize

            venv = VecNormalize.load(str(latest / "vecnormalize.pkl"), venv.venv)
            model = algo.load(latest / "model.zip", env=venv, device="cpu")
        else:
            kwargs = {**DEFAULT_ALGO_KWARGS[options.algo], **options.algo_kwargs}
            model = algo("MlpPolicy", venv, seed=options.seed, device="cpu", **kwargs)
        segment = len(list((out / "logs").glob("segment_*"))) if (out / "logs").exists() else 0
        model.set_logger(configure(str(out / "logs" / f"segment_{segment}"), ["csv", "tensorboard"]))
        remaining = options.total_steps - model.num_timesteps
        if remaining > 0:
            model.learn(
                remaining,
                callback=_callbacks(options, venv, checkpoints, eval_env),
                reset_num_timesteps=latest is None,
            )
        checkpoints.save(model, venv)
    finally:
        if venv is not None and hasattr(venv.venv, "dropped_episodes"):
            print(f"episodes dropped after a sub-environment failed: {venv.venv.dropped_episodes}")
            atomic_write(out / "dropped_episodes.json", json.dumps({"dropped": venv.venv.dropped_episodes}).encode())
        for env in (venv, eval_env):
            if env is not None:
                env.close()
        if started_ray:
            import ray

            ray.shutdown()
    times = out / "train_seconds.json"
    previous = json.loads(times.read_text())["seconds"] if times.exists() else 0.0
    atomic_write(times, json.dumps({"seconds": previous + time.time() - started}).encode())
    return out


def _dense_layers(modules: list[nn.Module]) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], str]:
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    activations = {type(m) for m in modules if not isinstance(m, nn.Linear)}
    names = {nn.Tanh: "tanh", nn.ReLU: "relu"}
    if len(activations) > 1 or not activations <= set(names):
        raise ValueError(f"cannot export a policy with activations {activations}; supported: Tanh, ReLU")
    activation = names[activations.pop()] if activations else "tanh"
    return [(m.weight.detach().clone(), m.bias.detach().clone()) for m in linears], activation


def controller_from_agent(model, obs_mean: np.ndarray, obs_var: np.ndarray, options: TrainOptions, info: dict):
    """Copy a trained SB3 agent's policy and observation normaliser into a :class:`Controller`."""
    policy = model.policy
    if options.algo == "dqn":
        modules = list(policy.q_net.q_net)
        hidden, head, output = modules[:-1], modules[-1], "argmax"
    elif options.algo == "sac":
        hidden, head, output = list(policy.actor.latent_pi), policy.actor.mu, "tanh"
    else:
        hidden, head = list(policy.mlp_extractor.policy_net), policy.action_net
        output = "argmax" if options.action_mode == "discrete" else "clip"
    layers, activation = _dense_layers(hidden)
    return Controller(
        layers=layers,
        head=(head.weight.detach().clone(), head.bias.detach().clone()),
        obs_mean=torch.as_tensor(obs_mean, dtype=torch.float32),
        obs_var=torch.as_tensor(obs_var, dtype=torch.float32),
        activation=activation,
        output=output,
        obs_clip=10.0,
        multipliers=tuple(options.multipliers) if output == "argmax" else (),
        max_log10_step=options.max_log10_step,
        relative_lr_bounds=tuple(options.relative_lr_bounds),
        range_test_steps=options.range_test_steps,
        range_test_fraction=options.range_test_fraction,
        range_test_span=tuple(options.range_test_span),
        range_test_extend=options.range_test_extend,
        info=info,
    )


def load_run(run_dir: str | Path) -> tuple[TrainOptions, Any, Any]:
    """The options, the agent and the VecNormalize of a run folder's latest checkpoint."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    run_dir = Path(run_dir)
    if not (run_dir / "options.json").exists():
        raise ValueError(f"{run_dir} is not a training run folder (no options.json)")
    options = TrainOptions(**TrainOptions.saved(run_dir))
    latest = _Checkpoints(run_dir / "checkpoints").latest()
    if latest is None:
        raise ValueError(f"{run_dir} holds no checkpoint yet")
    model = _algorithm(options.algo).load(latest / "model.zip", device="cpu")
    dummy = DummyVecEnv([EnvBuilder(tuple(options.eval_specs), env_kwargs(options))])
    normalizer = VecNormalize.load(str(latest / "vecnormalize.pkl"), dummy)
    return options, model, normalizer


FILE_ONLY_SETTINGS = (
    "range_test_flat_fallback",
    "range_test_adaptive_fraction",
    "scale_probe_epochs",
    "scale_probe_decades",
    "scale_probe_width",
    "scale_probe_fraction",
    "scale_probe_anneal",
    "scale_probe_hold",
    "scale_probe_walk",
    "scale_probe_climb",
)
"""Range-test and scale-probe settings that export can give a controller but training does not know."""


def export(
    run_dir: str | Path,
    out: str | Path,
    range_test_extend: float | None = None,
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
) -> Controller:
    """Write the controller of a run folder's latest checkpoint to ``out`` (see ``lr-agent export``).

    ``range_test_extend``, ``range_test_fraction`` and ``range_test_flat_fallback`` replace the
    extension, the suggested fraction and the handling of a flat loss of the range test the
    run trained with, and ``range_test_adaptive_fraction`` sets the fraction for adaptive
    optimizers (settings of the probe only: the weights are the run's); ``anneal_tail`` gives
    the controller a cosine tail over that share of the budget, and the ``scale_probe_*``
    settings a scale probe after the range test (see :class:`Controller`).
    """
    if range_test_extend is not None:
        check_range_test_extend(range_test_extend, "--range-test-extend")
    if range_test_fraction is not None:
        check_range_test_fraction(range_test_fraction, "--range-test-fraction")
    if range_test_adaptive_fraction is not None:
        check_range_test_fraction(range_test_adaptive_fraction, "--range-test-adaptive-fraction")
    if anneal_tail is not None:
        check_anneal_tail(anneal_tail, "--anneal-tail")
    if scale_probe_epochs is not None:
        check_scale_probe_epochs(scale_probe_epochs, "--scale-probe-epochs")
    if scale_probe_decades is not None:
        check_scale_probe_decades(scale_probe_decades, "--scale-probe-decades")
    if scale_probe_width is not None:
        check_scale_probe_width(scale_probe_width, "--scale-probe-width")
    if scale_probe_fraction is not None:
        check_scale_probe_fraction(scale_probe_fraction, "--scale-probe-fraction")
    if scale_probe_anneal is not None:
        check_scale_probe_anneal(scale_probe_anneal, "--scale-probe-anneal")
    if scale_probe_hold is not None:
        check_scale_probe_hold(scale_probe_hold, "--scale-probe-hold")
        if scale_probe_hold and not scale_probe_anneal:  # a trained agent's controller has no anneal
            raise ValueError(f"--scale-probe-hold {scale_probe_hold:g} needs --scale-probe-anneal")
    if scale_probe_walk is not None:
        check_scale_probe_walk(scale_probe_walk, "--scale-probe-walk")
    if scale_probe_climb is not None:
        check_scale_probe_climb(scale_probe_climb, "--scale-probe-climb")
    run_dir = Path(run_dir)
    options, model, normalizer = load_run(run_dir)
    trained_extend, trained_fraction = options.range_test_extend, options.range_test_fraction
    changes = {
        "range_test_extend": range_test_extend,
        "range_test_fraction": range_test_fraction,
        "range_test_flat_fallback": range_test_flat_fallback,
        "range_test_adaptive_fraction": range_test_adaptive_fraction,
        "scale_probe_epochs": scale_probe_epochs,
        "scale_probe_decades": scale_probe_decades,
        "scale_probe_width": scale_probe_width,
        "scale_probe_fraction": scale_probe_fraction,
        "scale_probe_anneal": scale_probe_anneal,
        "scale_probe_hold": scale_probe_hold,
        "scale_probe_walk": scale_probe_walk,
        "scale_probe_climb": scale_probe_climb,
    }
    changes = {name: value for name, value in changes.items() if value is not None}
    if changes and not options.range_test_steps:
        flag = "--" + next(iter(changes)).replace("_", "-")
        raise ValueError(f"{flag}: {run_dir} trained without a range test, so there is none to change or check")
    # settings of the file, not of training
    file_settings = {name: changes.pop(name) for name in FILE_ONLY_SETTINGS if name in changes}
    options = dataclasses.replace(options, **changes)
    evaluation: dict[str, Any] = {"specs": options.eval_specs}
    log = run_dir / "eval" / "evaluations.npz"
    if log.exists():
        with np.load(log) as data:
            evaluation.update(
                timesteps=data["timesteps"].tolist(),
                mean_return=data["results"].mean(axis=1).round(4).tolist(),
            )
    seconds = run_dir / "train_seconds.json"
    info = {
        "algorithm": options.algo,
        "trained_on": options.specs,
        "env_steps": int(model.num_timesteps),
        "train_seconds": round(json.loads(seconds.read_text())["seconds"], 1) if seconds.exists() else None,
        "evaluation": evaluation,
        "range_test_extend_in_training": trained_extend,
        "range_test_fraction_in_training": trained_fraction,
        "anchor_jitter_in_training": options.anchor_jitter,
        "exported": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    rms = normalizer.obs_rms
    controller = controller_from_agent(model, rms.mean, rms.var, options, info)
    if anneal_tail is not None:
        file_settings["anneal_tail"] = anneal_tail
    controller = dataclasses.replace(controller, **file_settings)
    controller.save(out)
    return controller
