"""Generative compression after Santurkar et al. 2018: a DCGAN generator (Radford et al. 2016) is the decoder, and a
VAE-style encoder maps each image tile to the generator's latent, which is quantized and entropy coded.

    x ─ tiles (s×s) ─► encoder ─► μ ─► Φ(μ) ─► ⌊·2^b⌋ = k ─► ANS(k | per-dim counts) ─► bytes
    bytes ─► k ─► z = Φ⁻¹((k + ½)/2^b) ─► generator ─► tiles ─► x̂

Quantizing in the CDF domain of the generator's N(0, I) prior makes every index equally likely *under the prior*;
the per-dimension counts of real encodings (:meth:`GenerativeCodec.fit_tables`) are what the entropy coder uses,
so the rate falls below ``b`` bits per dimension wherever the encoder's outputs cluster.
"""

from __future__ import annotations

import math
import zlib
from types import MappingProxyType
from typing import ClassVar, NamedTuple

import numpy as np
import torch
import torch.nn as nn

from .. import bitstream as fmt
from ..entropy import decode, encode
from ..entropy.density import CodingTables, TableCache, tensors_key
from ..images import crop, pad_to_multiple
from .base import Codec, Option

__all__ = [
    "MAX_BITS",
    "Discriminator",
    "Encoder",
    "GenerativeCodec",
    "GenerativeOutput",
    "Generator",
    "dequantize_latent",
    "quantize_latent",
]

#: The finest latent quantizer stored: tables for fewer bits are sums of neighbouring bins of this one.
MAX_BITS = 8


def _ups(size: int) -> int:
    n = int(math.log2(size)) - 2
    if size < 16 or 2 ** (n + 2) != size:
        raise ValueError(f"tile size must be a power of two >= 16, got {size}")
    return n


class Generator(nn.Module):
    """DCGAN generator: z (B, D) → 4×4 → 8×8 → … → (B, 3, size, size) in [0, 1]; transposed convs, batch norm, ReLU."""

    def __init__(self, latent_dim: int = 64, channels: int = 64, size: int = 64):
        super().__init__()
        n = _ups(size)
        c = channels * 2 ** (n - 1)
        layers = [nn.ConvTranspose2d(latent_dim, c, 4, 1, 0, bias=False), nn.BatchNorm2d(c), nn.ReLU(True)]  # 4×4
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2  # ×2 each
        layers += [nn.ConvTranspose2d(c, 3, 4, 2, 1), nn.Tanh()]  # size × size
        self.net = nn.Sequential(*layers)
        self.latent_dim = latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (self.net(z[:, :, None, None]) + 1) / 2


def _down(cin: int, channels: int, size: int) -> tuple[list[nn.Module], int]:
    """DCGAN's strided 4×4 convolutions with leaky ReLU: size × size → 4 × 4."""
    n = _ups(size)
    layers: list[nn.Module] = [nn.Conv2d(cin, channels, 4, 2, 1), nn.LeakyReLU(0.2, True)]  # size/2
    c = channels
    for _ in range(n - 1):
        layers += [nn.Conv2d(c, c * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c * 2), nn.LeakyReLU(0.2, True)]
        c *= 2  # /2 each, down to 4×4
    return layers, c


class Discriminator(nn.Module):
    """DCGAN discriminator: (B, 3, size, size) in [0, 1] → one logit per image (real > 0)."""

    def __init__(self, channels: int = 64, size: int = 64):
        super().__init__()
        layers, c = _down(3, channels, size)
        self.net = nn.Sequential(*layers, nn.Conv2d(c, 1, 4, 1, 0))  # 1×1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(2 * x - 1).flatten()


class Encoder(nn.Module):
    """VAE-style encoder: (B, 3, size, size) → mean and log-variance of q(z | x), each (B, D)."""

    def __init__(self, latent_dim: int = 64, channels: int = 64, size: int = 64):
        super().__init__()
        layers, c = _down(3, channels, size)
        self.net = nn.Sequential(*layers, nn.Conv2d(c, 2 * latent_dim, 4, 1, 0))  # 1×1

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.net(2 * x - 1).flatten(1).chunk(2, dim=1)
        return mu, logvar.clamp(-12, 6)


class GenerativeOutput(NamedTuple):
    x_hat: torch.Tensor  # generator's tiles, (B, 3, s, s)
    mu: torch.Tensor  # (B, D)
    logvar: torch.Tensor  # (B, D)
    z: torch.Tensor  # what the generator saw: a sample of q(z|x) when training, μ otherwise


def quantize_latent(z: torch.Tensor, bits: int) -> torch.Tensor:
    """z → index in 0 .. 2^bits − 1: the bin of Φ(z) among 2^bits equal-probability bins of N(0, 1).

    Computed at :data:`MAX_BITS` and shifted, so the bins of b bits are exactly unions of the bins of b + 1.
    """
    if not 1 <= bits <= MAX_BITS:
        raise ValueError(f"bits per dimension must be 1..{MAX_BITS}, got {bits}")
    u = 0.5 * (1 + torch.erf(z.double() / math.sqrt(2)))
    k = torch.clamp(torch.floor(u * 2**MAX_BITS), 0, 2**MAX_BITS - 1).to(torch.int64)
    return k >> (MAX_BITS - bits)


def dequantize_latent(k: torch.Tensor, bits: int) -> torch.Tensor:
    """index → the prior's median inside its bin, Φ⁻¹((k + ½) / 2^bits)."""
    u = (k.double() + 0.5) / 2**bits
    return (math.sqrt(2) * torch.erfinv(2 * u - 1)).float()


class GenerativeCodec(Codec):
    """Santurkar et al. 2018.  x → s×s tiles → encoder → μ → quantize (b bits/dim) → ANS → bytes → Φ⁻¹ → generator
    → tiles → x̂.  One latent of ``latent_dim`` numbers per tile, whatever is in it."""

    model_id = 3
    decode_bytes_per_pixel = 250  # measured peak 193 B/pixel (benchmarks/speed.py), rounded up by a quarter
    options: ClassVar = MappingProxyType(
        {"bits": Option(1, MAX_BITS, "bits per latent number (default: the model's own, 3 when shipped)")}
    )
    sweep = ("bits", (1, 2, 3, 4, 6))  # a measurement sweeps the bit depth of this one checkpoint
    stages = ("gan", "encoder", "joint")

    def __init__(self, latent_dim: int = 64, channels: int = 64, size: int = 64, bits: int = 3):
        super().__init__()
        if not 1 <= bits <= MAX_BITS:
            raise ValueError(f"bits per dimension must be 1..{MAX_BITS}, got {bits}")
        self.config = {"latent_dim": latent_dim, "channels": channels, "size": size, "bits": bits}
        self.latent_dim, self.size, self.stride, self.bits = latent_dim, size, size, bits
        self.training_patch = size  # it trains on its own tiles
        self.latent_channels = latent_dim  # one latent "channel" per dimension, one position per tile
        self.encoder = Encoder(latent_dim, channels, size)
        self.generator = Generator(latent_dim, channels, size)
        # counts of the MAX_BITS-bit index per dimension on training tiles (fit_tables); all ones until fitted
        self.register_buffer("index_counts", torch.ones(latent_dim, 2**MAX_BITS, dtype=torch.int32))
        self._tables = TableCache()

    def forward(self, x: torch.Tensor, bits: int | None = None) -> GenerativeOutput:
        """Tiles ``(B, 3, s, s)`` → reconstructions; a reparameterised sample of q(z | x) while training, or, with
        ``bits``, μ through the real quantizer with a straight-through gradient (what decoding will see: the
        clipped tails and the coarse bins)."""
        mu, logvar = self.encoder(x)
        if bits:
            z = mu + (dequantize_latent(quantize_latent(mu, bits), bits).to(mu) - mu).detach()
        elif self.training:
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        else:
            z = mu
        return GenerativeOutput(self.generator(z), mu, logvar, z)

    # -- tiles ----------------------------------------------------------------------------------------------------

    def _tiles(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """(3, H, W) → (th·tw, 3, s, s), row-major, padded by edge replication, and (th, tw)."""
        x_pad, _ = pad_to_multiple(x[None].to(self._device(), torch.float32), self.size)
        s = self.size
        th, tw = x_pad.shape[-2] // s, x_pad.shape[-1] // s
        tiles = x_pad.reshape(3, th, s, tw, s).permute(1, 3, 0, 2, 4).reshape(th * tw, 3, s, s)
        return tiles, (th, tw)

    def _untile(self, tiles: torch.Tensor, grid: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
        th, tw = grid
        s = self.size
        x = tiles.reshape(th, tw, 3, s, s).permute(2, 0, 3, 1, 4).reshape(1, 3, th * s, tw * s)
        return crop(x, size)[0].clamp(0, 1).cpu()

    def _mu(self, tiles: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        """The encoder's means, 256 tiles at a time (memory stays bounded whatever the image size)."""
        batches = tiles if isinstance(tiles, list) else list(tiles.split(256))
        return torch.cat([self.encoder(b.to(self._device()))[0] for b in batches])

    def _generate(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.generator(b) for b in z.to(self._device()).split(256)])

    @torch.no_grad()
    def encode_indices(self, x: torch.Tensor, bits: int | None = None) -> tuple[torch.Tensor, tuple[int, int]]:
        """(3, H, W) → the quantized latent, ``(D, tiles)`` int64 indices, and the tile grid."""
        tiles, grid = self._tiles(x)
        return quantize_latent(self._mu(tiles), bits or self.bits).T.cpu(), grid

    @torch.no_grad()
    def decode_indices(self, k: torch.Tensor, bits: int, grid: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
        return self._untile(self._generate(dequantize_latent(k.T, bits)), grid, size)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, rounded: bool = True, **options) -> torch.Tensor:
        """(3, H, W) → exactly what ``decompress(compress(x, **options))`` returns; ``rounded=False``: μ
        unquantized (what the generator makes of the encoder's continuous latent)."""
        bits = self.check_options(options)["bits"]
        if not rounded:
            tiles, grid = self._tiles(x)
            return self._untile(self._generate(self._mu(tiles)), grid, tuple(x.shape[-2:]))
        k, grid = self.encode_indices(x, bits)
        return self.decode_indices(k, bits, grid, tuple(x.shape[-2:]))

    # -- entropy model ----------------------------------------------------------------------------------------

    @torch.no_grad()
    def fit_tables(self, tiles: torch.Tensor | list[torch.Tensor]) -> None:
        """Count the :data:`MAX_BITS`-bit index of every latent dimension over training tiles (plus one, so no
        index is impossible): the entropy coder's model for every bit depth."""
        k = quantize_latent(self._mu(tiles), MAX_BITS).cpu()
        counts = torch.stack([torch.bincount(k[:, d], minlength=2**MAX_BITS) for d in range(self.latent_dim)])
        self.index_counts.copy_((counts + 1).to(torch.int32))

    @torch.no_grad()
    def on_train_step(self, step: int, cfg, sample) -> None:
        """At the end of an encoder stage, count the coding tables on 8,192 fixed training tiles."""
        if cfg.stage == "gan" or step != cfg.steps:
            return
        was_training = self.training
        self.eval()
        self.fit_tables(sample(8192, self.size, 54321))
        self.train(was_training)
        if cfg.stage == "encoder":
            self.generator.eval()

    def tables(self, bits: int) -> CodingTables:
        """Per-dimension categorical tables for ``bits``: the fine counts summed over each coarse bin (kept in a
        :class:`~helpers.entropy.TableCache` keyed by the counts)."""
        return self._tables.get(tensors_key(self.index_counts), lambda: self._build_tables(bits), kind=bits)

    def _build_tables(self, bits: int) -> CodingTables:
        counts = self.index_counts.to(torch.int64).reshape(self.latent_dim, 2**bits, -1).sum(-1).cpu().numpy()
        # the coder's tables end in an escape symbol; every index is in range here, so it gets the least weight
        return CodingTables(
            offsets=np.zeros(self.latent_dim, np.int64), freqs=[np.append(row, 1) for row in counts], precision=0
        )

    def fingerprint(self) -> int:
        return zlib.crc32(self.index_counts.cpu().numpy().astype("<i4").tobytes())

    # -- real bytes -------------------------------------------------------------------------------------------

    @torch.no_grad()
    def compress(self, x: torch.Tensor, **options) -> bytes:
        """One ``(3, H, W)`` image → a ``.nic`` file; the payload is one byte of ``bits`` and the ANS stream."""
        bits = self.check_options(options)["bits"]
        x = self._check_image(x)
        k, (th, tw) = self.encode_indices(x, bits)
        payload = bytes([bits]) + encode(k.numpy(), self.tables(bits))
        header = fmt.Header(
            self.model_id, self.name, x.shape[-2], x.shape[-1], (self.latent_dim, th, tw), self.fingerprint()
        )
        return fmt.pack(header, payload)

    def _decode(self, header: fmt.Header, payload: bytes) -> torch.Tensor:
        if not payload or not 1 <= payload[0] <= MAX_BITS:
            raise fmt.FormatError(f"bad bits-per-dimension byte in the payload ({payload[:1].hex() or 'empty'})")
        bits = payload[0]
        _, th, tw = header.latent_shape
        k = torch.from_numpy(decode(payload[1:], self.tables(bits), th * tw))
        return self.decode_indices(k, bits, (th, tw), (header.height, header.width))
