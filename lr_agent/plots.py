"""PNG plots of episodes: LR and loss curves side by side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lr_agent.episodes import EpisodeResult


def plot_episodes(results: Sequence[EpisodeResult], path: str | Path, title: str = "") -> Path:
    """Write a PNG with the LR (left) and the training/validation losses (right) of each episode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_lr, ax_loss) = plt.subplots(1, 2, figsize=(13, 4.2), constrained_layout=True)
    for i, result in enumerate(results):
        color = f"C{i % 10}"
        epochs = [r["epoch"] for r in result.records]
        edges = [epochs[0] - (epochs[1] - epochs[0] if len(epochs) > 1 else 1), *epochs]
        ax_lr.stairs([r["lr"] for r in result.records], edges, baseline=None, color=color, label=result.name)
        ax_loss.plot(epochs, [r["val_loss"] for r in result.records], color=color)
        ax_loss.plot(epochs, [r["train_loss"] for r in result.records], color=color, linestyle="--", alpha=0.6)
    ax_lr.set(xlabel="epoch", ylabel="learning rate", yscale="log", title="learning rate")
    ax_loss.set(xlabel="epoch", ylabel="loss", yscale="log", title="validation (solid) and training (dashed) loss")
    for ax in (ax_lr, ax_loss):
        ax.grid(True, which="both", alpha=0.3)
    fig.legend(loc="outside right center", fontsize="small")
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
