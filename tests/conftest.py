"""Shared test settings: one seed, small budgets."""

import pytest

import lr_agent  # noqa: F401  (registers the Gymnasium ids)

SEED = 0


def random_controller(seed: int = SEED, output: str = "argmax", hidden: int = 16, **kwargs):
    """A controller with random weights: varied decisions, no training needed."""
    import torch

    from lr_agent.controller import Controller
    from lr_agent.env import DEFAULT_MULTIPLIERS
    from lr_agent.observation import FEATURES

    g = torch.Generator().manual_seed(seed)
    n = len(FEATURES)
    outputs = len(DEFAULT_MULTIPLIERS) if output == "argmax" else 1
    return Controller(
        layers=[(torch.randn(hidden, n, generator=g), torch.randn(hidden, generator=g))],
        head=(torch.randn(outputs, hidden, generator=g), torch.randn(outputs, generator=g)),
        obs_mean=torch.randn(n, generator=g) * 0.1,
        obs_var=torch.rand(n, generator=g) + 0.5,
        output=output,
        multipliers=DEFAULT_MULTIPLIERS if output == "argmax" else (),
        info={"note": "random weights for tests"},
        **kwargs,
    )


@pytest.fixture(scope="session", autouse=True)
def sb3_log_folder(tmp_path_factory):
    """stable-baselines3 logs a ``learn()`` that has no logger of its own to a new folder in the
    system's temporary directory, one per call; the tests' go under pytest's temporary folders."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SB3_LOGDIR", str(tmp_path_factory.mktemp("sb3")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def ray_instance():
    """One local Ray instance for the whole test session (starting one takes seconds)."""
    import ray

    from lr_agent.distributed import init_ray

    init_ray(num_cpus=4)
    yield ray
    ray.shutdown()
