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


class _RecurrentNet(nn.Module):
    """A recurrent network (``nn.GRU`` or ``nn.LSTM``) whose last hidden state a linear head reads."""

    def __init__(
        self, cell: type[nn.RNNBase], sequence_shape: tuple[int, int], num_outputs: int, width: int, depth: int
    ) -> None:
        super().__init__()
        self.sequence_shape = tuple(sequence_shape)
        self.rnn = cell(sequence_shape[1], width, num_layers=depth, batch_first=True)
        self.head = nn.Linear(width, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(x.reshape(len(x), *self.sequence_shape))
        return self.head(states[:, -1])


def gru(sequence_shape: tuple[int, int], num_outputs: int, width: int = 64, depth: int = 1) -> nn.Module:
    """A GRU of ``depth`` layers of ``width`` units over a flattened sequence of ``sequence_shape``
    (time steps, features per step); a linear head reads its last hidden state."""
    return _RecurrentNet(nn.GRU, sequence_shape, num_outputs, width, depth)


def lstm(sequence_shape: tuple[int, int], num_outputs: int, width: int = 64, depth: int = 1) -> nn.Module:
    """As :func:`gru`, with LSTM layers."""
    return _RecurrentNet(nn.LSTM, sequence_shape, num_outputs, width, depth)


TRANSFORMER_HEADS = 4
"""Attention heads of the ``transformer`` model kind (its width must be a multiple)."""


class _TransformerNet(nn.Module):
    def __init__(self, sequence_shape: tuple[int, int], num_outputs: int, width: int, depth: int, heads: int) -> None:
        super().__init__()
        steps, features = self.sequence_shape = tuple(sequence_shape)
        self.embed = nn.Linear(features, width)
        self.position = nn.Parameter(torch.randn(steps, width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            width, heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = self.encoder(self.embed(x.reshape(len(x), *self.sequence_shape)) + self.position)
        return self.head(self.norm(states.mean(dim=1)))


def transformer(
    sequence_shape: tuple[int, int], num_outputs: int, width: int = 32, depth: int = 1, heads: int = TRANSFORMER_HEADS
) -> nn.Module:
    """A pre-norm Transformer encoder of ``depth`` layers (``heads`` attention heads, ``width``
    units, a feed-forward of twice that, no dropout) over a flattened sequence of
    ``sequence_shape``, with learned positions; a linear head reads the mean of its states."""
    if width % heads:
        raise ValueError(f"transformer width {width} is not a multiple of its {heads} heads")
    return _TransformerNet(sequence_shape, num_outputs, width, depth, heads)


SEQUENCE_KINDS = {"conv1d": conv1d, "gru": gru, "lstm": lstm, "transformer": transformer}
"""Model kinds that take a sequence data set."""

KINDS = ("mlp", "resmlp", "cnn", *SEQUENCE_KINDS)
"""Built-in model kinds; a spec may also name ``module:function``."""
