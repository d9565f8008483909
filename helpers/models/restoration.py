"""Restoration of codec output: a residual CNN that removes JPEG artefacts, after Tao et al. 2017's RecCNN."""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["RecCNN"]


class RecCNN(nn.Module):
    """Tao et al. 2017 (RecCNN, after Zhang et al.'s DnCNN).  decoded y → conv+ReLU → (conv+BN+ReLU) × (depth−2)
    → conv → r;  x̂ = y + r.  The network learns the artefact, not the image: at initialisation x̂ = y.

    The paper's RecCNN has 20 layers of 64 channels; ``depth`` and ``channels`` shrink it for a CPU.
    """

    def __init__(self, depth: int = 8, channels: int = 32):
        super().__init__()
        if depth < 3:
            raise ValueError(f"depth must be at least 3, got {depth}")
        self.config = {"depth": depth, "channels": channels}
        layers: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(True)]
        layers.append(nn.Conv2d(channels, 3, 3, padding=1))
        self.body = nn.Sequential(*layers)  # every layer keeps H × W
        with torch.no_grad():  # start as the identity: the residual branch outputs zero
            self.body[-1].weight.zero_()
            self.body[-1].bias.zero_()

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y + self.body(y)
