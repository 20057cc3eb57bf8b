"""The network architectures a spec's ``[model] kind`` names."""

from __future__ import annotations

import torch
from torch import nn


def mlp(input_dim: int, num_outputs: int, width: int = 64, depth: int = 2) -> nn.Module:
    """A fully connected ReLU network with ``depth`` hidden layers of ``width`` units."""
    layers: list[nn.Module] = []
    size = input_dim
    for _ in range(depth):
        layers += [nn.Linear(size, width), nn.ReLU()]
        size = width
    layers.append(nn.Linear(size, num_outputs))
    return nn.Sequential(*layers)


def cnn(image_shape: tuple[int, int, int], num_outputs: int, width: int = 16, depth: int = 2) -> nn.Module:
    """A small CNN: ``depth`` 3×3 conv blocks of ``width`` channels, global pooling, a linear head.

    Takes flattened images (as the data sets store them) and unflattens them to
    ``image_shape`` (channels, height, width).
    """
    channels = image_shape[0]
    layers: list[nn.Module] = [nn.Unflatten(1, image_shape)]
    for _ in range(depth):
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
        channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_outputs)]
    return nn.Sequential(*layers)


class _ResidualBlock(nn.Module):
    """``x + body(x)``, the body a pre-norm two-layer MLP of ``width`` units."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def resmlp(input_dim: int, num_outputs: int, width: int = 64, depth: int = 2) -> nn.Module:
    """A residual MLP: a linear layer to ``width`` units, ``depth`` pre-norm residual blocks
    (LayerNorm, linear, ReLU, linear), a final LayerNorm and a linear head."""
    blocks = [_ResidualBlock(width) for _ in range(depth)]
    return nn.Sequential(nn.Linear(input_dim, width), *blocks, nn.LayerNorm(width), nn.Linear(width, num_outputs))


class _ChannelsFirst(nn.Module):
    """(batch, steps, features) to (batch, features, steps), the layout ``Conv1d`` takes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)


def conv1d(sequence_shape: tuple[int, int], num_outputs: int, width: int = 16, depth: int = 2) -> nn.Module:
    """A 1-D CNN: ``depth`` blocks of a 5-tap convolution of ``width`` channels and 2× pooling,
    global average pooling, a linear head. Takes flattened sequences of ``sequence_shape``
    (time steps, features per step)."""
    features = sequence_shape[1]
    layers: list[nn.Module] = [nn.Unflatten(1, sequence_shape), _ChannelsFirst()]
    for _ in range(depth):
        layers += [nn.Conv1d(features, width, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2)]
        features = width
    layers += [nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(width, num_outputs)]
    return nn.Sequential(*layers)


class _GRUNet(nn.Module):
    def __init__(self, sequence_shape: tuple[int, int], num_outputs: int, width: int, depth: int) -> None:
        super().__init__()
        self.sequence_shape = tuple(sequence_shape)
        self.gru = nn.GRU(sequence_shape[1], width, num_layers=depth, batch_first=True)
        self.head = nn.Linear(width, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states, _ = self.gru(x.reshape(len(x), *self.sequence_shape))
        return self.head(states[:, -1])


def gru(sequence_shape: tuple[int, int], num_outputs: int, width: int = 64, depth: int = 1) -> nn.Module:
    """A GRU of ``depth`` layers of ``width`` units over a flattened sequence of ``sequence_shape``
    (time steps, features per step); a linear head reads its last hidden state."""
    return _GRUNet(sequence_shape, num_outputs, width, depth)


KINDS = ("mlp", "resmlp", "cnn", "conv1d", "gru")
"""Built-in model kinds; a spec may also name ``module:function``."""
