"""Cheng et al. 2018: a convolutional autoencoder with residual blocks, a PCA rotation of the latent, quantization
and entropy coding."""

from __future__ import annotations

import torch
import torch.nn as nn

from .base import LearnedCodec
from .layers import ResidualBlock, conv, subpixel_conv

__all__ = ["ConvAutoencoder"]


class ConvAutoencoder(LearnedCodec):
    """Cheng et al. 2018.  x → E (conv, PReLU, residual blocks, /stride) → z → PCA rotation → y → round → ŷ
    → inverse rotation → D (residual blocks, sub-pixel upsampling) → x̂;  p(ŷ) per (rotated) channel.

    The rotation ``y = Wᵀ (z - μ)`` is orthogonal and starts as the identity; :meth:`fit_pca` sets it from the
    latents of real images, which packs the energy into the first channels (what Cheng et al. exploit for bit
    allocation, and what makes a per-channel prior fit better).
    """

    model_id = 2
    decode_bytes_per_pixel = 420  # measured peak 330 B/pixel (benchmarks/speed.py), rounded up by a quarter

    def __init__(self, channels: int = 96, latent_channels: int = 64, blocks: int = 2, downsamplings: int = 4):
        super().__init__(latent_channels)
        self.config = {
            "channels": channels,
            "latent_channels": latent_channels,
            "blocks": blocks,
            "downsamplings": downsamplings,
        }
        self.stride = 2**downsamplings
        # reach in latent positions, for tiled coding: ~2 for the strided convolutions, 2 per residual block and
        # 1 per 3x3 convolution on each side of the latent (a test compares tiled and whole transforms)
        self.tile_margin = 2 * blocks + 4
        n, m = channels, latent_channels
        enc = [conv(3, n // 2), nn.PReLU(n // 2), conv(n // 2, n), nn.PReLU(n)]  # H/4
        for _ in range(downsamplings - 2):
            enc += [conv(n, n), nn.PReLU(n)]  # ... H/stride
        enc += [ResidualBlock(n) for _ in range(blocks)] + [nn.Conv2d(n, m, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)
        dec = [nn.Conv2d(m, n, 3, padding=1), nn.PReLU(n)] + [ResidualBlock(n) for _ in range(blocks)]
        for _ in range(downsamplings - 2):
            dec += [subpixel_conv(n, n), nn.PReLU(n)]  # x2 each
        dec += [subpixel_conv(n, n // 2), nn.PReLU(n // 2), subpixel_conv(n // 2, 3)]  # H
        self.decoder = nn.Sequential(*dec)
        self._init_ends(self.encoder[-1], self.decoder[-1][0])
        # fixed-size buffers (no shape changes on load): identity rotation and zero mean until fit_pca
        self.register_buffer("pca_matrix", torch.eye(m))
        self.register_buffer("pca_mean", torch.zeros(m))

    def rotate(self, z: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bchw,cd->bdhw", z - self.pca_mean.view(1, -1, 1, 1), self.pca_matrix)

    def unrotate(self, y: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bdhw,cd->bchw", y, self.pca_matrix) + self.pca_mean.view(1, -1, 1, 1)

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        return self.rotate(self.encoder(x))

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.unrotate(y_hat))

    @torch.no_grad()
    def fit_pca(self, images: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        """Set the rotation to the principal axes of the encoder's latents on ``images``; returns the variances
        (descending) of the rotated channels."""
        batches = images if isinstance(images, list) else [images]
        z = torch.cat(
            [
                self.encoder(b.to(self.pca_mean.device)).permute(0, 2, 3, 1).reshape(-1, self.latent_channels)
                for b in batches
            ]
        ).double()
        mean = z.mean(0)
        cov = torch.cov((z - mean).T)
        var, vec = torch.linalg.eigh(cov)  # ascending
        order = torch.argsort(var, descending=True)
        self.pca_matrix.copy_(vec[:, order].float())
        self.pca_mean.copy_(mean.float())
        return var[order].float()

    @torch.no_grad()
    def on_train_step(self, step: int, cfg, sample) -> None:
        """Fit the rotation once, at ``cfg.pca_at`` of the run (``< 0``: never), on 64 fixed training patches; the
        run then keeps training with it in place, so the prior and the decoder adapt to it."""
        if cfg.pca_at < 0 or step != int(cfg.pca_at * cfg.steps):
            return
        batch = sample(64, cfg.patch_size, 12345).to(self.pca_mean.device)
        was_training = self.training
        self.eval()
        self.fit_pca(list(batch.split(16)))
        self.train(was_training)
