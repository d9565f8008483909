"""What every learned codec shares: noisy training forward, and ``compress``/``decompress`` to real bytes."""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch
import torch.nn as nn

from .. import bitstream as fmt
from ..entropy import FactorizedDensity, decode, encode
from ..images import crop, pad_to_multiple
from ..runtime import available_memory

__all__ = ["Choice", "Codec", "LearnedCodec", "Option", "Output", "soft_round", "tiled"]


_THREADS = threading.Lock()


@contextlib.contextmanager
def _one_thread():
    """torch on one CPU thread for the block, restored after; one block at a time in a process (the setting is
    global, so two decodes in two Python threads must not interleave it)."""
    with _THREADS:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)


class Output(NamedTuple):
    x_hat: torch.Tensor  # reconstruction, (B, 3, H, W)
    likelihoods: torch.Tensor  # p(ŷ) per latent element, (B, C, h, w)
    y: torch.Tensor  # the latent before quantization


def tiled(fn, x: torch.Tensor, unit_in: int, unit_out: int, tile: int, margin: int) -> torch.Tensor:
    """``fn`` applied to ``x`` in overlapping tiles, stitched: the same result as ``fn(x)`` (up to float rounding)
    in a fraction of the memory, for a fully convolutional ``fn`` whose reach is at most ``margin`` grid units.

    Sizes are in grid units (latent positions): ``x`` is ``(1, C, H * unit_in, W * unit_in)`` and ``fn`` maps
    ``h x w`` units of input to ``h x w`` units of output of ``unit_out`` pixels each. Each tile of ``tile x tile``
    units is computed with ``margin`` units of real neighbours around it (zero padding only at the image's own
    border, as in the whole computation), and only its centre is kept.
    """
    gh, gw = x.shape[-2] // unit_in, x.shape[-1] // unit_in
    out = None
    for i0 in range(0, gh, tile):
        for j0 in range(0, gw, tile):
            i1, j1 = min(i0 + tile, gh), min(j0 + tile, gw)
            a0, b0, a1, b1 = max(i0 - margin, 0), max(j0 - margin, 0), min(i1 + margin, gh), min(j1 + margin, gw)
            y = fn(x[..., a0 * unit_in : a1 * unit_in, b0 * unit_in : b1 * unit_in])
            if out is None:
                out = y.new_empty(*y.shape[:-2], gh * unit_out, gw * unit_out)
            out[..., i0 * unit_out : i1 * unit_out, j0 * unit_out : j1 * unit_out] = y[
                ..., (i0 - a0) * unit_out : (i1 - a0) * unit_out, (j0 - b0) * unit_out : (j1 - b0) * unit_out
            ]
    return out


def soft_round(y: torch.Tensor, temperature: float) -> torch.Tensor:
    """Agustsson & Theis (2020): a smooth function through the integers that tends to rounding as the temperature
    goes to 0 (and to the identity as it grows)."""
    alpha = 1.0 / temperature
    m = torch.floor(y) + 0.5
    return m + 0.5 * torch.tanh(alpha * (y - m)) / math.tanh(alpha / 2)


@dataclass(frozen=True)
class Option:
    """One option of a codec's ``compress``: an integer in ``low..high``; ``None`` takes the model's default (its
    attribute of the same name)."""

    low: int
    high: int
    help: str = ""

    def check(self, name: str, value, default):
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
            raise ValueError(f"{name} must be an integer from {self.low} to {self.high}, got {value!r}")
        return value


@dataclass(frozen=True)
class Choice:
    """One option of a codec's ``compress`` that takes one of a few names (e.g. ``effort``); ``None`` takes the
    model's default."""

    values: tuple[str, ...]
    help: str = ""

    def check(self, name: str, value, default):
        if value is None:
            return default
        if value not in self.values:
            raise ValueError(f"{name} must be one of {', '.join(self.values)}, got {value!r}")
        return value


class Codec(nn.Module):
    """What every model that writes ``.nic`` files shares, and the one interface each presents:

    - ``compress(x, **options) -> bytes``: options are declared in ``options`` and checked by
      :meth:`check_options` (an unknown name or a bad value is a ``ValueError``, never silently ignored);
    - ``decompress(data, max_pixels=...) -> (3, H, W)``: the file's checks (:meth:`_unpack`) come first;
    - ``fingerprint() -> int``: the CRC32 of the integer coding tables, which every file records and every
      decoder compares;
    - ``reconstruct(x, rounded=True, **options)``: what ``decompress(compress(x))`` returns, computed without the
      coder (``rounded=False``: the latent left unquantized);
    - ``sweep``: ``(option, values)`` when a measurement should sweep one option of one checkpoint (the
      generative codec's bits) instead of a family of checkpoints, else ``None``;
    - ``on_train_step(step, cfg, sample)``: called by the trainer after each step (the CAE fits its PCA rotation,
      the generative codec counts its coding tables); nothing by default.

    Coding tables are kept in a :class:`~helpers.entropy.TableCache` keyed by the weights they derive from.
    Subclasses set ``model_id``, ``stride`` (pixels per latent position) and ``latent_channels``.

    Images above ``tile_above`` pixels go through the transforms in tiles of ``tile_pixels`` (plus
    ``tile_margin`` latent positions of context on each side): a 4000x3000 photo then needs about as much memory
    as a 1-megapixel one, and the bitstream is the same format (tiling is how the transform is computed, not what
    is stored). Smaller images are computed whole.
    """

    model_id: ClassVar[int]
    options: ClassVar[Mapping[str, Option | Choice]] = {}
    sweep: ClassVar[tuple[str, tuple] | None] = None
    stages: ClassVar[tuple[str, ...]] = ("rd",)  # what helpers.train may run on it (see helpers.train.STAGES)
    training_patch: ClassVar[int | None] = None  # a patch size of its own (else the run's patch_size)
    stride: int
    latent_channels: int
    tile_pixels: ClassVar[int] = 1024
    tile_above: ClassVar[int] = 2048 * 2048
    tile_margin: int = 4  # latent positions; subclasses with a wider reach set more (a test checks each)

    def _transform(self, fn, x: torch.Tensor, encode: bool) -> torch.Tensor:
        """``fn`` (analysis when ``encode``, else synthesis) on a whole padded image, in tiles when it is large.

        The synthesis runs on one CPU thread: a convolution's float sums come out in another order with another
        thread count, and the factorized prior's decoded pixels then differed by one level in a few pixels between
        1 and 2 threads (measured). On one thread the decoded pixels are the same for any thread setting of the
        caller and in any process of the same build (tests/test_codec.py checks it); the bitstream never depended
        on threads."""
        pixels = x.shape[-2] * x.shape[-1] * (1 if encode else self.stride**2)
        with contextlib.nullcontext() if encode or x.device.type != "cpu" else _one_thread():
            if pixels <= self.tile_above:
                return fn(x)
            units = (self.stride, 1) if encode else (1, self.stride)
            return tiled(fn, x, *units, tile=max(1, self.tile_pixels // self.stride), margin=self.tile_margin)

    def __init__(self):
        super().__init__()
        self.name = "untrained"  # the checkpoint name written into files; set by helpers.checkpoints.load
        self.meta: dict = {}

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    @staticmethod
    def _check_image(x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4 and x.shape[0] == 1:
            x = x[0]
        if x.ndim != 3 or x.shape[0] != 3:
            raise ValueError(f"compress takes one (3, H, W) image, got {tuple(x.shape)}")
        return x

    def _unpack(self, data: bytes, max_pixels: int | None, fingerprint: int) -> tuple[fmt.Header, bytes]:
        """Every check a decoder makes before it decodes: CRC, size limit, model id, latent shape, weights.

        A header that claims more than ``max_pixels`` pixels (Pillow's decompression-bomb limit) is refused
        before anything is allocated.
        """
        header, payload = fmt.unpack(data)
        if max_pixels is not None and header.height * header.width > max_pixels:
            raise fmt.FormatError(
                f"the file claims a {header.width}x{header.height} image, more than max_pixels="
                f"{max_pixels}; pass a larger max_pixels if you trust it"
            )
        if header.model_id != self.model_id:
            raise fmt.FormatError(
                f"file was written by a {fmt.MODEL_IDS[header.model_id]}, this is a {type(self).__name__}"
            )
        expect = (self.latent_channels, math.ceil(header.height / self.stride), math.ceil(header.width / self.stride))
        if header.latent_shape != expect:
            raise fmt.FormatError(f"latent shape {header.latent_shape} does not fit this model (expected {expect})")
        if fingerprint != header.fingerprint:
            raise fmt.FormatError(
                f"file was written by other weights (checkpoint {header.name!r}); load that checkpoint to decode it"
            )
        return header, payload

    def check_options(self, options: Mapping) -> dict:
        """``options`` of ``compress`` checked against the declared ones, with the model's defaults filled in."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            takes = f"it takes {', '.join(self.options)}" if self.options else "it takes none"
            raise ValueError(f"{self.name} ({type(self).__name__}) has no option {', '.join(unknown)}: {takes}")
        return {k: spec.check(k, options.get(k), getattr(self, k, None)) for k, spec in self.options.items()}

    def compress(self, x: torch.Tensor, **options) -> bytes:
        raise NotImplementedError

    #: bytes of working memory per pixel that decoding takes up to ``tile_above`` pixels (the transforms run in
    #: tiles beyond), from the peaks measured by ``benchmarks/speed.py`` on a 1-Mpixel mosaic, rounded up by a
    #: quarter; the decoded image and its copies (48 bytes per pixel) come on top
    decode_bytes_per_pixel: ClassVar[int] = 800

    def decode_bytes(self, height: int, width: int) -> int:
        """An estimate of the memory that decoding a ``width x height`` file takes, made before anything is
        allocated."""
        pixels = height * width
        return self.decode_bytes_per_pixel * min(pixels, self.tile_above) + 48 * pixels

    @torch.no_grad()
    def decompress(
        self, data: bytes, max_pixels: int | None = fmt.MAX_PIXELS, max_memory: int | None = None
    ) -> torch.Tensor:
        """The bytes of a ``.nic`` file written by these weights -> ``(3, H, W)`` in [0, 1], with one guard around
        the whole decode: the file's checks (:meth:`_unpack`; ``max_pixels=None`` accepts a trusted file of any
        size), then the memory the file will need, estimated before anything is allocated (``max_memory``, in
        bytes: default the memory available now), then the decode, whose failures end as a ``FormatError`` (a
        damaged or forged payload) or a ``MemoryError`` that names the size; never a NaN or an infinity."""
        header, payload = self._unpack(data, max_pixels, self.fingerprint())
        h, w = header.height, header.width
        need, limit = self.decode_bytes(h, w), available_memory() if max_memory is None else max_memory
        if limit is not None and need > limit:
            raise MemoryError(
                f"decoding this {w}x{h} image needs about {need / 2**30:.1f} GiB, more than the "
                f"{limit / 2**30:.1f} GiB available; pass max_memory to try anyway"
            )
        try:
            with self._memory_guard(h, w):
                x_hat = self._decode(header, payload)
        except (fmt.FormatError, MemoryError):
            raise
        except (ValueError, IndexError, KeyError, OverflowError, RuntimeError) as err:
            raise fmt.FormatError(f"the payload does not decode ({type(err).__name__}: {err})") from err
        if not torch.isfinite(x_hat).all():  # e.g. an escape value that no encoder of images writes
            raise fmt.FormatError("the payload decodes to non-finite values: a damaged or forged file")
        return x_hat.clamp(0, 1)  # after the check: a clamp would turn an infinity into a valid-looking 1

    def _decode(self, header: fmt.Header, payload: bytes) -> torch.Tensor:
        """The model's own decode of a checked file: ``(3, H, W)`` on the CPU, cropped to the header's size and
        not yet clamped (:meth:`decompress` refuses non-finite values, then clamps to [0, 1])."""
        raise NotImplementedError

    def fingerprint(self) -> int:
        raise NotImplementedError

    def tables_state(self) -> dict | None:
        """The integer coding tables as tensors, for a checkpoint to store (``None``: nothing to store, the tables
        follow from the stored state by integer arithmetic alone)."""
        return None

    def load_tables_state(self, state: dict) -> None:
        """Use tables stored in a checkpoint as they are (see :meth:`tables_state`)."""
        raise ValueError(f"{type(self).__name__} stores no coding tables")

    def on_train_step(self, step: int, cfg, sample) -> None:
        """Called by the trainer after step ``step`` of the run ``cfg`` (a :class:`helpers.train.TrainConfig`);
        ``sample(n, size, salt)`` draws ``n`` training patches from a generator seeded by the run's seed plus
        ``salt``, the same on every machine and after every resume. Models that fit something from data during
        training override it; the trainer knows no model by name."""

    @staticmethod
    @contextlib.contextmanager
    def _memory_guard(height: int, width: int):
        """Turn torch's allocation failures into a ``MemoryError`` that names the image size and what to do."""
        try:
            yield
        except (torch.OutOfMemoryError, RuntimeError) as err:
            if not isinstance(err, torch.OutOfMemoryError) and "allocate" not in str(err):
                raise
            raise MemoryError(
                f"a {width}x{height} image needs more memory than this device has for this model: "
                "split it into parts and code each, or use a machine with more memory"
            ) from err


class LearnedCodec(Codec):
    """x → analysis → y → round → ŷ → synthesis → x̂, with p(ŷ) from a per-channel :class:`FactorizedDensity`.

    Subclasses define ``analysis``, ``synthesis``, ``stride`` and ``model_id``; this class does the rest.
    """

    def __init__(self, latent_channels: int):
        super().__init__()
        self.latent_channels = latent_channels
        self.density = FactorizedDensity(latent_channels)

    def _init_ends(self, last_encoder_layer: nn.Module, last_decoder_layer: nn.Module, latent_gain: float = 20.0):
        """Start training where rounding does not erase the latent and the output sits at mid-grey.

        With default initialisation the latent's spread is ~0.03, so rounding maps it all to 0 and the decoder
        sees nothing for the first thousand steps; a gain on the last encoder layer and a 0.5 bias on the last
        decoder layer remove that slow start (measured: the loss after 400 steps falls by about 40 %).
        """
        with torch.no_grad():
            last_encoder_layer.weight.mul_(latent_gain)
            last_encoder_layer.bias.zero_()
            last_decoder_layer.bias.fill_(0.5)

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> Output:
        y = self.analysis(x)
        if self.training:
            # rate: additive uniform noise, a differentiable stand-in for rounding (Ballé et al. 2017);
            # decoder: rounded values with a straight-through gradient, so it learns on what it will really see
            y_noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
            y_ste = y + (torch.round(y) - y).detach()
            return Output(self.synthesis(y_ste), self.density(y_noisy), y)
        y_hat = torch.round(y)
        return Output(self.synthesis(y_hat), self.density(y_hat), y)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, rounded: bool = True, **options) -> torch.Tensor:
        """``(3, H, W)`` -> what the decoder makes of it, with the latent rounded (exactly what ``compress`` then
        ``decompress`` return) or left continuous: their gap is what quantization costs, the rest is the transform."""
        self.check_options(options)
        x_pad, size = pad_to_multiple(x[None].to(self._device(), torch.float32), self.stride)
        y = self._transform(self.analysis, x_pad, encode=True)
        x_hat = self._transform(self.synthesis, torch.round(y) if rounded else y, encode=False)
        return crop(x_hat, size)[0].clamp(0, 1).cpu()

    # -- real bytes ----------------------------------------------------------------------------------------------

    def fingerprint(self) -> int:
        return self.density.tables().fingerprint()

    def tables_state(self) -> dict:
        return self.density.tables_state()

    def load_tables_state(self, state: dict) -> None:
        self.density.load_tables_state(state)

    @torch.no_grad()
    def compress(self, x: torch.Tensor, **options) -> bytes:
        """One ``(3, H, W)`` image in [0, 1] -> the bytes of a ``.nic`` file (any size: padded to the stride)."""
        self.check_options(options)
        x = self._check_image(x)
        h, w = x.shape[-2:]
        x_pad, _ = pad_to_multiple(x[None].to(self._device(), torch.float32), self.stride)
        with self._memory_guard(h, w):
            y_hat = torch.round(self._transform(self.analysis, x_pad, encode=True))
        return self.pack_latent(y_hat, (h, w))

    def pack_latent(self, y_hat: torch.Tensor, size: tuple[int, int]) -> bytes:
        """An integer latent ``(1, C, h, w)`` of an image of ``size`` (height, width) -> the bytes of its file:
        what :meth:`compress` writes for the analysis' latent, for any other latent (e.g. one refined for the image
        by :meth:`refine_latent`)."""
        c, lh, lw = y_hat.shape[1:]
        tables = self.density.tables()
        payload = encode(torch.round(y_hat[0]).reshape(c, -1).to(torch.int64).cpu().numpy(), tables)
        header = fmt.Header(self.model_id, self.name, *size, (c, lh, lw), tables.fingerprint())
        return fmt.pack(header, payload)

    def refine_latent(self, x: torch.Tensor, lmbda: float, steps: int = 200, lr: float = 0.003) -> torch.Tensor:
        """Per-image inference on an amortized model: start from the analysis' latent of ``x`` and take ``steps``
        Adam steps on that latent alone (the networks stay as trained) against ``lmbda * 255**2 * MSE + bpp``,
        through soft rounding whose temperature falls from 0.5 to 0.05 (in the spirit of Yang et al. 2020).
        Returns the rounded latent, for :meth:`pack_latent`. What it gains measures the *amortization gap*: how
        far the analysis transform's one-pass guess is from the best latent for this image under these networks.

        (Measured on a 256x256 crop of ``coffee`` with factorized-q3, 100 steps: the training's stand-ins, noise
        for the rate and straight-through for the synthesis, made the cost *worse* at every learning rate tried,
        as Adam moves every latent value by about ``lr`` per step, even those with no useful gradient, and
        many crossed a rounding boundary; annealed soft rounding lowered it.)"""
        x = self._check_image(x)[None].to(self._device(), torch.float32)
        x_pad, size = pad_to_multiple(x, self.stride)
        with torch.no_grad():
            y = self.analysis(x_pad)
        y = y.clone().requires_grad_(True)
        opt = torch.optim.Adam([y], lr=lr)
        pixels = size[0] * size[1]
        for p in self.parameters():
            p.requires_grad_(False)
        try:
            for step in range(steps):
                y_soft = soft_round(y, 0.5 - 0.45 * step / max(steps - 1, 1))
                x_hat = crop(self.synthesis(y_soft), size)
                bits = -torch.log2(self.density(y_soft)).sum()
                loss = lmbda * 255**2 * torch.mean((x_hat - x) ** 2) + bits / pixels
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        finally:
            for p in self.parameters():
                p.requires_grad_(True)
        return torch.round(y.detach())

    def _decode(self, header: fmt.Header, payload: bytes) -> torch.Tensor:
        c, lh, lw = header.latent_shape
        symbols = decode(payload, self.density.tables(), lh * lw)
        y_hat = torch.from_numpy(symbols).float().view(1, c, lh, lw).to(self._device())
        x_hat = self._transform(self.synthesis, y_hat, encode=False)
        return crop(x_hat, (header.height, header.width))[0].cpu()
