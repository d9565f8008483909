"""A peer to measure ours against: CompressAI's ``bmshj2018-factorized`` (its ``FactorizedPrior``), unchanged.

CompressAI (Bégaint et al. 2020) is the reference PyTorch implementation of Ballé et al.'s models. This wrapper
changes nothing in its network, its entropy bottleneck or its rANS coder; it only lets the same tools handle it:

- ``forward`` returns our :class:`~helpers.models.base.Output`, so :mod:`helpers.train` trains it with the same
  loss, data, steps and lambdas as ours. Its entropy bottleneck's quantiles are trained as CompressAI's own
  ``examples/train.py`` does, by a second ("aux") optimizer on :meth:`aux_loss` (see ``aux_parameters``);
- ``compress``/``decompress`` write CompressAI's own bitstream inside the same ``.nic`` container as ours (model
  id 4), so the header costs the same bytes and every file check (CRC, size limit, weights) applies.

The coder's tables come from CompressAI's default ``update()``. Its ``update(update_quantiles=True)`` (a bisection
that puts the entropy bottleneck's tail quantiles exactly on target) was measured on the trained peer: it took the
aux loss from 1,653 to 0.9 on ``compressai-q1`` but moved the embedded photos' rate by 0.04 % and PSNR by 0.001 dB
(q1 and q2 alike), because loose tails only widen the range of rare symbols. The default stays.

Install it with ``pip install "nic-book[peers]"``. CompressAI 1.2 pins ``numpy<2``, so pip installs numpy 1.26
with it. Importing CompressAI also imports torchvision and torch_geometric (its point-cloud models), about four
seconds: it is imported when a peer is built, never by ``import helpers``. torchvision must match torch (the pair
in the README): PyPI's torchvision beside a CPU-only torch fails with "operator torchvision::nms does not exist".
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

from .. import bitstream as fmt
from ..entropy.density import TableCache, weights_key
from ..images import crop, pad_to_multiple
from .base import Codec, Output

__all__ = ["CompressAIFactorized", "compressai_available"]

_CDF_BUFFERS = ("_quantized_cdf", "_offset", "_cdf_length")


def compressai_available() -> bool:
    """Whether the optional peer can be built here."""
    try:
        _compressai_models()
    except ImportError:
        return False
    return True


def _compressai_models():
    try:
        import warnings

        with warnings.catch_warnings():  # CompressAI 1.2.8 still calls torch.jit.script at import
            warnings.simplefilter("ignore", FutureWarning)
            from compressai import models
    except ImportError as err:
        raise ImportError(
            f"the peer codec needs CompressAI: pip install 'nic-book[peers]' (or pip install compressai): {err}"
        ) from err
    except RuntimeError as err:  # e.g. PyPI's torchvision beside a CPU-only torch
        raise ImportError(
            f"CompressAI is installed but does not import ({err}); it needs a torchvision built for "
            "this torch: pip install torch==2.14.1 torchvision==0.29.1"
        ) from err
    return models


class CompressAIFactorized(Codec):
    """CompressAI's ``FactorizedPrior(N, M)`` (bmshj2018-factorized) behind our trainer, file format and tools.

    ``channels``/``latent_channels`` are N/M; the defaults match our shipped :class:`FactorizedPrior`
    (``helpers.train.plans.FP_CONFIG``), so the two differ only in their implementation: the peer's decoder trains on
    noisy latents and decodes around the learned medians, ours trains on rounded ones (straight-through).
    """

    model_id = 4
    stride = 16
    decode_bytes_per_pixel = 750  # measured peak 591 B/pixel (benchmarks/speed.py), rounded up by a quarter

    def __init__(self, channels: int = 96, latent_channels: int = 128):
        super().__init__()
        self.config = {"channels": channels, "latent_channels": latent_channels}
        self.latent_channels = latent_channels
        self.net = _compressai_models().FactorizedPrior(channels, latent_channels)
        self._tables = TableCache()  # CompressAI's CDF buffers, rebuilt by its update() when the weights change

    # -- training ------------------------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> Output:
        # CompressAI's FactorizedPrior.forward line for line (a test checks it), keeping y for our Output
        y = self.net.g_a(x)
        y_hat, likelihoods = self.net.entropy_bottleneck(y)
        return Output(self.net.g_s(y_hat), likelihoods, y)

    def aux_parameters(self) -> list[torch.nn.Parameter]:
        """The entropy bottleneck's quantiles: CompressAI trains them with their own optimizer on ``aux_loss``."""
        return [p for n, p in self.net.named_parameters() if n.endswith(".quantiles")]

    def aux_loss(self) -> torch.Tensor:
        return self.net.aux_loss()

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.g_a(x)

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        return self.net.g_s(y_hat)

    # -- checkpoints: CompressAI's tables are buffers whose size depends on the weights ----------------------------

    def state_dict(self, *args, **kwargs):
        state = super().state_dict(*args, **kwargs)
        return {k: v for k, v in state.items() if k.rsplit(".", 1)[-1] not in _CDF_BUFFERS}

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        state = {k: v for k, v in state_dict.items() if k.rsplit(".", 1)[-1] not in _CDF_BUFFERS}
        missing, unexpected = super().load_state_dict(state, strict=False, assign=assign)
        missing = [k for k in missing if k.rsplit(".", 1)[-1] not in _CDF_BUFFERS]
        if strict and (missing or unexpected):
            raise RuntimeError(
                f"state dict does not fit {type(self).__name__}: missing {missing}, unexpected {unexpected}"
            )
        return torch.nn.modules.module._IncompatibleKeys(missing, unexpected)

    def tables(self) -> tuple[np.ndarray, ...]:
        """CompressAI's integer CDF tables (``_quantized_cdf``, ``_cdf_length``, ``_offset``), built by its
        ``update`` once per state of the entropy bottleneck's weights (:class:`~helpers.entropy.TableCache`); its
        coder reads them from the bottleneck's buffers, which ``update`` fills at the same time."""
        eb = self.net.entropy_bottleneck
        return self._tables.get(weights_key(eb), self._build_tables)

    def _build_tables(self) -> tuple[np.ndarray, ...]:
        self.net.update(force=True)
        eb = self.net.entropy_bottleneck
        return tuple(getattr(eb, name).to(torch.int32).cpu().numpy() for name in _CDF_BUFFERS)

    def tables_state(self) -> dict:
        return {name: torch.from_numpy(t.copy()) for name, t in zip(_CDF_BUFFERS, self.tables(), strict=True)}

    def load_tables_state(self, state: dict) -> None:
        """CompressAI's CDF buffers as stored, not rebuilt by ``update`` (a float computation) at load time."""
        eb = self.net.entropy_bottleneck
        for name in _CDF_BUFFERS:
            setattr(eb, name, state[name].to(getattr(eb, name).dtype))
        self._tables.put(weights_key(eb), tuple(state[name].to(torch.int32).numpy() for name in _CDF_BUFFERS))

    def fingerprint(self) -> int:
        """CRC32 of the CDF tables, as the tables of our models are fingerprinted."""
        crc = 0
        for table in self.tables():
            crc = zlib.crc32(table.tobytes(), crc)
        return crc

    # -- real bytes --------------------------------------------------------------------------------------------

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, rounded: bool = True, **options) -> torch.Tensor:
        """``(3, H, W)`` -> what the decoder makes of it (rounded around the medians, as the coder does)."""
        self.check_options(options)
        x_pad, size = pad_to_multiple(x[None].to(self._device(), torch.float32), self.stride)
        y = self._transform(self.net.g_a, x_pad, encode=True)
        if rounded:
            y = self.net.entropy_bottleneck.quantize(y, "dequantize", self.net.entropy_bottleneck._get_medians())
        return crop(self._transform(self.net.g_s, y, encode=False), size)[0].clamp(0, 1).cpu()

    @torch.no_grad()
    def compress(self, x: torch.Tensor, **options) -> bytes:
        """One ``(3, H, W)`` image in [0, 1] -> a ``.nic`` file holding CompressAI's bitstream."""
        self.check_options(options)
        x = self._check_image(x)
        h, w = x.shape[-2:]
        fingerprint = self.fingerprint()
        x_pad, _ = pad_to_multiple(x[None].to(self._device(), torch.float32), self.stride)
        with self._memory_guard(h, w):  # FactorizedPrior.compress, with g_a in tiles on large images
            y = self._transform(self.net.g_a, x_pad, encode=True)
            (payload,), (lh, lw) = self.net.entropy_bottleneck.compress(y), y.shape[-2:]
        header = fmt.Header(self.model_id, self.name, h, w, (self.latent_channels, lh, lw), fingerprint)
        return fmt.pack(header, payload)

    def _decode(self, header: fmt.Header, payload: bytes) -> torch.Tensor:
        _, lh, lw = header.latent_shape
        if not payload:
            raise fmt.FormatError("empty payload")
        # CompressAI's rANS decoder reads its input without bounds checks. Our CRC keeps damaged files away from
        # it, but a forged file (valid CRC) could make it read past the payload; zeros after the payload, which a
        # valid stream never reaches, keep such reads inside our buffer (a few reads per symbol at most)
        padded = payload + bytes(8 * self.latent_channels * lh * lw + 1024)
        # FactorizedPrior.decompress, g_s tiled if large (Codec.decompress guards memory and failures)
        y_hat = self.net.entropy_bottleneck.decompress([padded], (lh, lw))
        x_hat = self._transform(self.net.g_s, y_hat, encode=False)
        return crop(x_hat, (header.height, header.width))[0].cpu()
