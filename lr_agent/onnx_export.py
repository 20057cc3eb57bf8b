"""ONNX export of a controller's policy (``lr-agent export --onnx``), for runtimes without torch."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lr_agent.controller import Controller


class PolicyModule(nn.Module):
    """The controller's forward pass as a torch module: raw observation in, action out.

    The output is the action index (int64) for discrete controllers, or the
    action in [-1, 1] (float32) for continuous ones, for a batch of observations.
    """

    def __init__(self, controller: Controller) -> None:
        super().__init__()
        self.register_buffer("mean", controller.obs_mean.clone())
        self.register_buffer("scale", torch.rsqrt(controller.obs_var + controller.obs_epsilon))
        self.clip = controller.obs_clip
        self.output = controller.output
        activation = nn.Tanh if controller.activation == "tanh" else nn.ReLU
        layers: list[nn.Module] = []
        for weight, bias in [*controller.layers, controller.head]:
            linear = nn.Linear(weight.shape[1], weight.shape[0])
            linear.weight.data.copy_(weight)
            linear.bias.data.copy_(bias)
            layers += [linear, activation()]
        self.net = nn.Sequential(*layers[:-1])

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        x = ((observation - self.mean) * self.scale).clamp(-self.clip, self.clip)
        x = self.net(x)
        if self.output == "argmax":
            return x.argmax(dim=-1)
        return torch.tanh(x) if self.output == "tanh" else x.clamp(-1.0, 1.0)


def export_onnx(controller: Controller, path: str | Path) -> Path:
    """Write the policy as an ONNX model with input ``observation`` (batch × features) and output ``action``."""
    path = Path(path)
    module = PolicyModule(controller).eval()
    example = torch.zeros(1, len(controller.features))
    torch.onnx.export(
        module,
        (example,),
        str(path),
        input_names=["observation"],
        output_names=["action"],
        dynamic_shapes={"observation": {0: torch.export.Dim("batch")}},
        dynamo=True,
        verbose=False,
    )
    return path
