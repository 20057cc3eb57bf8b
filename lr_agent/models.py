"""The network architectures a spec's ``[model] kind`` names."""

from __future__ import annotations

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


KINDS = ("mlp", "cnn")
"""Built-in model kinds; a spec may also name ``module:function``."""
