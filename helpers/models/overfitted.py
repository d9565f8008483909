"""A network per image: an overfitted codec after Cool-chic (Ladune et al. 2023; Leguay et al. 2023) and C3 (Kim et
al. 2024), written from the papers.

Nothing is learned ahead of time. To compress one image the encoder *trains* a tiny decoder on that image alone, and
the file carries both the latents and the decoder's weights:

- **latent grids** ``ŷ_0 .. ŷ_6``, one channel each, at 1:1, 1:2, ... 1:64 of the image's resolution;
- an **autoregressive entropy model** (ARM): a small MLP that reads the already-decoded neighbours of a latent
  value in its own grid (by default 12: two rows above, two values to the left) and predicts the mean and scale
  of a Laplace law for it; the values are entropy-coded with those per-value laws;
- **upsampling**: each grid is brought to full resolution by repeated 2x steps of a learned 8-tap separable
  filter (one per level, started at the bicubic filter);
- **synthesis**: 1x1 convolutions (an MLP per pixel) on the 7 upsampled channels, then two 3x3 residual layers.

The encoder's recipe (C3's, in outline): Adam with a cosine learning rate, soft-rounding with an annealed
temperature plus uniform noise as the stand-in for quantization, gradient clipping, then a short straight-through
phase on truly rounded latents; finally the weights are quantized with the step that minimizes the
rate-distortion cost, measured, and written with exp-Golomb codes (:mod:`helpers.entropy.golomb`).

**Decoding cannot desynchronize.** The decoder recomputes the ARM's means and scales from the decoded neighbours.
If one bit of one scale differed from the encoder's, every later symbol would decode wrong. So the ARM runs in
integer arithmetic (:func:`arm_integer`): weights are integers times ``2**-k``, activations are integers times
``2**-8``, every product and sum is exact in int64 and every rounding is a shift; its output names one of the
fixed integer tables of :mod:`helpers.entropy.laplace`. No float operation, thread count, device or library version
can change which table codes a symbol. The upsampling and synthesis run in float (on one CPU thread, for the same
pixels whatever the caller's thread setting), as in every other decoder of the book: their rounding changes a
pixel by at most a level, never the stream.

**Fast decoding.** With ``c`` columns of context either side, a value's context lies on earlier *wavefronts*
``t = j + (c + 1) i`` (row ``i``, column ``j``), so all positions of one wavefront, in all seven grids, decode
together: one integer MLP call and one vectorized constriction call per wavefront (about ``W + (c + 1) H`` of them)
instead of one per value.
"""

from __future__ import annotations

import itertools
import math
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import bitstream as fmt
from ..entropy.golomb import BitReader, BitWriter, best_order, golomb_bits, read_signed, write_signed
from ..entropy.laplace import B_MIN, MEAN_STEPS, SCALES, IndexedDecoder, encode_indexed, tables_fingerprint
from ..runtime import progress
from .base import Choice, Codec, Option, _one_thread, soft_round

__all__ = [
    "EFFORTS",
    "QUALITY_LAMBDAS",
    "IntegerArm",
    "OverfittedCodec",
    "OverfittedNet",
    "arm_integer",
    "encode_variant",
    "float_arm_tables",
    "grid_sizes",
]

LEVELS = 7
CONTEXT = (2, 2)  # the ARM's neighbourhood: 2 rows above and 2 columns either side (12 neighbours)
CLIP = 127  # context values are clipped to +-CLIP (in training and coding alike)
SCALE_ZERO = 34  # the ARM's second output u is log2 of the scale, about: scale index 6 u + 34 (u = 0: b = 1)
T_START, T_END = 0.5, 0.1  # soft-rounding temperature, annealed linearly over the soft phase
LATENT_GAIN = 16.0  # latents are stored divided by this: Adam's steps then move a latent value 16x faster
ACT_BITS = 8  # the integer ARM's activations carry 8 fractional bits
LATENT_LIMIT = 1 << 15  # a decoded latent beyond this is a forged file: no encoder writes one
PAYLOAD_VERSION = 1
#: the encoder's recipe (architecture defaults, schedule, lambdas): bumped whenever a change can move a measured
#: result, so that cached benchmark encodes of an older recipe are redone rather than mixed in
RECIPE = 4

#: quality 1..8 -> lambda of the cost ``lambda * 255**2 * MSE + bpp`` (a factor ~2 per step)
QUALITY_LAMBDAS = {1: 0.0008, 2: 0.0016, 3: 0.003, 4: 0.006, 5: 0.012, 6: 0.024, 7: 0.048, 8: 0.096}


@dataclass(frozen=True)
class Effort:
    """How long the encoder optimizes: ``soft`` steps with soft-rounding and noise, then ``hard`` straight-through
    steps on rounded latents."""

    soft: int
    hard: int
    lr: float = 1e-2


#: steps of each effort. No straight-through phase by default: on a 256x256 crop of CBSD68's 101085 (quality 4,
#: 675 steps in all) ending with 75 of them raised the cost by 2 % and with 200 by 11 % against soft rounding
#: throughout, whose last temperature (0.1) is already close to rounding
#: Step counts: a 768x512 photo takes about 0.3 s per step on one thread of this book's 2-core CPU, so the default
#: effort stays under 10 minutes and the fast one about 2 (benchmarks/overfitted.py records the seconds).
EFFORTS = {"fast": Effort(400, 0), "default": Effort(1800, 0), "best": Effort(6000, 0)}

_BICUBIC_2X = (-0.03515625, -0.10546875, 0.26171875, 0.87890625, 0.87890625, 0.26171875, -0.10546875, -0.03515625)


def context_offsets(rows: int, half: int) -> list[tuple[int, int]]:
    """The causal neighbours (row, column offsets) of ``rows`` rows above and ``half`` columns either side, in the
    order of a ``(rows + 1) x (2 half + 1)`` window read row by row: ``rows (2 half + 1) + half`` of them."""
    return [(di, dj) for di in range(-rows, 0) for dj in range(-half, half + 1)] + [(0, dj) for dj in range(-half, 0)]


def grid_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """Sizes of the latent grids of an image: 1:1 down to 1:64, rounded up."""
    return [(-(-height // 2**lvl), -(-width // 2**lvl)) for lvl in range(LEVELS)]


# -- the networks --------------------------------------------------------------------------------------------------


def _laplace_bits(v: torch.Tensor, mu: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Bits of values ``v`` under discretized Laplace laws of mean ``mu`` and scale index ``t`` (continuous).

    Computed in log space: a value far in a narrow law's tail still gets its true (large) cost and a gradient that
    pulls it in. Clamping a probability from below instead (as likelihood bounds do) leaves such values with no
    gradient at all, and the rate crept up over long encodes (measured)."""
    b = B_MIN * torch.exp2(t.clamp(0, SCALES - 1) / 6)
    ax = (v - mu).abs()
    # |x| >= 1/2: the bin lies on one side of the mean, mass exp(-(|x| - 1/2) / b) (1 - exp(-1 / b)) / 2
    log_far = math.log(0.5) - ((ax - 0.5) / b).clamp_min(0) + torch.log(-torch.expm1(-1 / b))
    # |x| < 1/2: the bin holds the mean
    near = 1 - 0.5 * (torch.exp(((ax - 0.5) / b).clamp_max(0)) + torch.exp(-(ax + 0.5) / b))
    log_p = torch.where(ax >= 0.5, log_far, torch.log(near.clamp_min(1e-30)))
    return -log_p.sum() / math.log(2)


def _padded(x: torch.Tensor) -> torch.Tensor:
    return F.pad(x, (1, 1, 1, 1), mode="replicate").contiguous(memory_format=torch.channels_last)


class OverfittedNet(nn.Module):
    """The latents and the three networks of one image; ``forward`` gives the reconstruction and the rate."""

    def __init__(
        self,
        height: int,
        width: int,
        arm_hidden: int = 16,
        syn_hidden: int = 24,
        syn_depth: int = 1,
        context: tuple[int, int] = CONTEXT,
    ):
        super().__init__()
        self.height, self.width, self.arm_hidden, self.syn_hidden = height, width, arm_hidden, syn_hidden
        self.syn_depth, self.context = syn_depth, tuple(context)
        n_ctx = len(context_offsets(*self.context))
        self.latents = nn.ParameterList([nn.Parameter(torch.zeros(1, 1, h, w)) for h, w in grid_sizes(height, width)])
        self.arm = nn.ModuleList(
            [nn.Linear(n_ctx, arm_hidden), nn.Linear(arm_hidden, arm_hidden), nn.Linear(arm_hidden, 2)]
        )
        self.up = nn.Parameter(torch.tensor(_BICUBIC_2X).repeat(LEVELS - 1, 1))
        widths = [LEVELS] + [syn_hidden] * syn_depth + [3]
        self.syn = nn.ModuleList(
            [nn.Conv2d(a, b, 1) for a, b in itertools.pairwise(widths)] + [nn.Conv2d(3, 3, 3), nn.Conv2d(3, 3, 3)]
        )
        with torch.no_grad():
            self.arm[-1].weight.mul_(0.1)
            self.arm[-1].bias.zero_()
            self.syn[-3].bias.fill_(0.5)
            for layer in self.syn[-2:]:
                layer.weight.zero_()
                layer.bias.zero_()

    def groups(self) -> dict[str, list[torch.Tensor]]:
        """The weights the file carries, by quantization group, in file order."""
        return {
            "arm": [p for layer in self.arm for p in (layer.weight, layer.bias)],
            "up": [self.up],
            "syn": [p for layer in self.syn for p in (layer.weight, layer.bias)],
        }

    def macs_per_pixel(self) -> float:
        """Multiply-accumulates per image pixel of the decoder (ARM over every latent value, upsampling, synthesis)."""
        latents = sum(h * w for h, w in grid_sizes(self.height, self.width)) / (self.height * self.width)
        a, s = self.arm_hidden, self.syn_hidden
        arm = len(context_offsets(*self.context)) * a + a * a + a * 2
        up = sum(2 * 4 * (LEVELS - 1 - lvl) / 4**lvl for lvl in range(LEVELS - 1))  # 4 taps per output, 2 passes
        syn = (LEVELS * s + (self.syn_depth - 1) * s * s + s * 3 if self.syn_depth else LEVELS * 3) + 2 * 27
        return arm * latents + up + syn

    def quantized(self, mode: str, temperature: float = 0.3) -> list[torch.Tensor]:
        out = []
        for stored in self.latents:
            y = stored * LATENT_GAIN
            if mode == "soft":
                noise = torch.rand_like(y) - 0.5
                out.append(soft_round(soft_round(y, temperature) + noise, temperature))
            elif mode == "noise":  # Balle et al. 2017: additive uniform noise
                out.append(y + torch.rand_like(y) - 0.5)
            elif mode == "ste":
                out.append(y + (torch.round(y) - y).detach())
            else:
                out.append(torch.round(y))
        return out

    def coding_order(self, grids: list[torch.Tensor]) -> list[torch.Tensor]:
        """The grids as the ARM scans them: transposed when the image is taller than wide, so that the wavefronts
        (``W + (c + 1) H`` of them, see :class:`_Layout`) are as few as possible."""
        return [g.transpose(-1, -2) for g in grids] if self.height > self.width else grids

    def contexts(self, grids: list[torch.Tensor]) -> torch.Tensor:
        """``(N, K)``: each latent value's ``K`` causal neighbours, all grids in raster order (of
        :meth:`coding_order`), zeros outside."""
        rows_above, half = self.context
        k = len(context_offsets(rows_above, half))
        rows = []
        for g in self.coding_order(grids):
            win = F.unfold(F.pad(g, (half, half, rows_above, 0)), (rows_above + 1, 2 * half + 1))  # the window
            rows.append(win[0, :k].T)
        return torch.cat(rows).clamp(-CLIP, CLIP)

    def arm_float(self, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = ctx
        for n, layer in enumerate(self.arm):
            a = layer(a)
            if n < len(self.arm) - 1:
                a = F.relu(a)
        return a[:, 0], 6 * a[:, 1] + SCALE_ZERO

    def rate_bits(self, grids: list[torch.Tensor]) -> torch.Tensor:
        """Bits of the grids under the ARM, as in training: the same sums as :meth:`arm_float` on
        :meth:`contexts`, with features along the rows (``W @ window``) so that no ``(N, K)`` context matrix is
        transposed or concatenated (the encoder's costliest step, measured)."""
        rows_above, half = self.context
        first, hidden, last = self.arm
        k = first.weight.shape[1]
        outs, values = [], []
        for g in self.coding_order(grids):
            win = F.unfold(F.pad(g.clamp(-CLIP, CLIP), (half, half, rows_above, 0)), (rows_above + 1, 2 * half + 1))
            a = F.relu(torch.addmm(first.bias[:, None], first.weight, win[0, :k]))  # (hidden, h*w)
            a = F.relu(torch.addmm(hidden.bias[:, None], hidden.weight, a))
            outs.append(torch.addmm(last.bias[:, None], last.weight, a))  # (2, h*w)
            values.append(g.reshape(-1))
        out = torch.cat(outs, 1)
        mu, t = out[0], 6 * out[1] + SCALE_ZERO
        return _laplace_bits(torch.cat(values), mu, t)

    def rate_bits_reference(self, grids: list[torch.Tensor]) -> torch.Tensor:
        """:meth:`rate_bits` computed the plain way, from :meth:`contexts` and :meth:`arm_float` (for tests)."""
        mu, t = self.arm_float(self.contexts(grids))
        return _laplace_bits(torch.cat([g.reshape(-1) for g in self.coding_order(grids)]), mu, t)

    def _up2(self, u: torch.Tensor, level: int, size: tuple[int, int]) -> torch.Tensor:
        """2x upsampling of every channel with this level's separable 8-tap filter (replicated borders), cropped to
        ``size``; at the bicubic start it equals ``F.interpolate(..., mode="bicubic")``."""
        c = u.shape[1]
        k = self.up[level]
        u = F.pad(u, (2, 2, 2, 2), mode="replicate")
        u = F.conv_transpose2d(u, k.view(1, 1, 8, 1).expand(c, 1, 8, 1), stride=(2, 1), groups=c)
        u = F.conv_transpose2d(u, k.view(1, 1, 1, 8).expand(c, 1, 1, 8), stride=(1, 2), groups=c)
        return u[..., 7 : 7 + size[0], 7 : 7 + size[1]]

    def synthesize(self, grids: list[torch.Tensor]) -> torch.Tensor:
        u = grids[-1]
        for lvl in range(LEVELS - 2, -1, -1):
            u = torch.cat([self._up2(u, lvl, grids[lvl].shape[-2:]), grids[lvl]], 1)
        for layer in self.syn[:-3]:
            u = F.relu(layer(u))
        x = self.syn[-3](u)
        # channels-last for the 3-channel 3x3 convolutions: the same sums, about twice as fast on a CPU (measured)
        x = x + self.syn[-2](_padded(x))
        return x + self.syn[-1](_padded(F.relu(x)))

    def forward(self, mode: str = "hard", temperature: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
        if mode == "mixed":  # the rate of noisy values, the synthesis of rounded ones (straight-through)
            return self.synthesize(self.quantized("ste")), self.rate_bits(self.quantized("noise"))
        grids = self.quantized(mode, temperature)
        return self.synthesize(grids), self.rate_bits(grids)


# -- the integer ARM and the wavefront order -----------------------------------------------------------------------


class IntegerArm:
    """The ARM in exact integer arithmetic, as the decoder runs it (and the encoder, to choose the same tables).

    ``layers``: integer ``(weight, bias)`` pairs, each the float value times ``2**k``. Activations are integers
    times ``2**-ACT_BITS``; a layer is ``floor((W a + b 2**ACT_BITS + 2**(k-1)) / 2**k)``, then ReLU. The output
    is the mean in eighths (rounded) and the scale index ``round(6 u + 34)``.

    The sums are computed by float64 matrix products, which are exact here: every operand and every partial sum
    is an integer below ``2**53`` (the constructor bounds them from the weights and refuses weights that could
    exceed it), so no rounding happens, whatever order a BLAS library or thread count sums in; division by a
    power of two and ``floor`` are exact too. The same integers on every machine, so the same tables.
    """

    LIMIT = 2.0**52

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]], k: int):
        self.k = k
        self.layers = []
        bound = float(CLIP << ACT_BITS)
        for w, b in layers:
            w = np.asarray(w, dtype=np.float64)
            b = np.asarray(b, dtype=np.float64) * 2.0**ACT_BITS
            worst = np.abs(w).sum(axis=1) * bound + np.abs(b) + 2.0 ** (k - 1)
            if not np.all(worst < self.LIMIT):
                raise ValueError("ARM weights too large for exact integer arithmetic")
            self.layers.append((np.ascontiguousarray(w.T), b + 2.0 ** (k - 1)))
            bound = float(np.floor(worst.max() / 2.0**k)) + 1

    def __call__(self, ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``ctx`` ``(N, 12)`` decoded neighbours -> the integer part of each mean, and the table (``mean offset *
        SCALES + scale index``) that codes the value minus it."""
        a = np.clip(ctx, -CLIP, CLIP).astype(np.float64) * 2.0**ACT_BITS
        scale = 2.0**-self.k
        for n, (wt, b) in enumerate(self.layers):
            a = np.floor((a @ wt + b) * scale)
            if n < len(self.layers) - 1:
                np.maximum(a, 0, out=a)
        mu, u = a[:, 0].astype(np.int64), a[:, 1].astype(np.int64)
        q = (mu + (1 << (ACT_BITS - 4))) >> (ACT_BITS - 3)  # the mean in eighths, rounded
        s = np.clip((6 * u + ((2 * SCALE_ZERO + 1) << (ACT_BITS - 1))) >> ACT_BITS, 0, SCALES - 1)
        return q >> 3, (q & (MEAN_STEPS - 1)) * SCALES + s


def arm_integer(ctx: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """:class:`IntegerArm` ``(layers, k)`` applied to ``ctx``."""
    return IntegerArm(layers, k)(ctx)


class _Layout:
    """Where every latent value of every grid sits in one zero-padded flat buffer, in decoding order."""

    def __init__(self, sizes: list[tuple[int, int]], context: tuple[int, int] = CONTEXT):
        rows_above, half = context
        bases, offsets, parts = [], [], []
        base = 0
        for g, (h, w) in enumerate(sizes):
            wp = w + 2 * half
            bases.append(base)
            offsets.append([di * wp + dj for di, dj in context_offsets(rows_above, half)])
            i, j = np.divmod(np.arange(h * w, dtype=np.int64), w)
            # (i - 1, j + half) is the latest neighbour: wavefront t = j + (half + 1) i puts it one front earlier
            parts.append((np.full(h * w, g, np.int64), j + (half + 1) * i, base + (i + rows_above) * wp + j + half))
            base += (h + rows_above) * wp
        grid, wave, flat = (np.concatenate(p) for p in zip(*parts, strict=True))
        order = np.lexsort((flat, grid, wave))  # by wavefront; within it by grid, then raster position
        self.size = base
        self.raster = order  # decoding position n holds the value at raster index order[n] (grids concatenated)
        self.flat = flat[order]
        self.grid = grid[order]
        self.bounds = np.searchsorted(wave[order], np.arange(int(wave.max()) + 2))
        self.offsets = np.array(offsets, dtype=np.int64)

    def context_index(self, sl: slice) -> np.ndarray:
        return self.flat[sl, None] + self.offsets[self.grid[sl]]


# -- weights in the file -------------------------------------------------------------------------------------------


def _quantize(t: torch.Tensor, k: int) -> np.ndarray:
    return torch.round(t.detach().double().cpu() * 2.0**k).to(torch.int64).numpy()


def _write_weights(tensors: list[np.ndarray]) -> bytes:
    w = BitWriter()
    for v in tensors:
        k = best_order(v.ravel())
        w.write(k, 4)
        write_signed(w, v.ravel(), k)
    return w.getvalue()


def _weight_bits(tensors: list[np.ndarray]) -> int:
    return sum(4 + golomb_bits(v.ravel(), best_order(v.ravel())) for v in tensors)


def _read_weights(reader: BitReader, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    out = []
    for shape in shapes:
        k = reader.read(4)
        out.append(read_signed(reader, math.prod(shape), k).reshape(shape))
    return out


_STEPS = {"arm": range(5, 12), "up": range(4, 11), "syn": range(4, 12)}  # candidate k: step 2**-k
#: version, context (rows above << 4 | columns either side), arm_hidden, syn_hidden, syn_depth, k_arm, k_up, k_syn,
#: weight bytes
_HEAD = struct.Struct("<BBBBBBBBI")


# -- the codec ------------------------------------------------------------------------------------------------------


class OverfittedCodec(Codec):
    """The overfitted codec as a :class:`Codec`: ``compress(x, quality=1..8, effort="fast"|"default"|"best")``
    trains an :class:`OverfittedNet` on ``x`` and writes latents and weights; ``decompress`` needs no checkpoint.

    ``progress`` (default: where someone watches) shows a bar with the rate and PSNR while it optimizes;
    ``on_step(step, bpp, psnr)`` is called every 25 steps (for studies and tests).
    """

    model_id = 5
    stride = 1
    latent_channels = LEVELS
    options: ClassVar[dict] = {
        "quality": Option(1, 8, "1: smallest file .. 8: best image"),
        "effort": Choice(tuple(EFFORTS), "how long the encoder optimizes"),
    }
    quality = 4
    effort = "default"
    tile_above = fmt.MAX_PIXELS  # decoded whole; the memory estimate covers it
    decode_bytes_per_pixel = 400  # measured peak 318 B/pixel decoding a 1-Mpixel file, rounded up by a quarter

    def __init__(
        self,
        arm_hidden: int = 16,
        syn_hidden: int = 24,
        syn_depth: int = 1,
        context: tuple[int, int] = CONTEXT,
        seed: int = 0,
    ):
        super().__init__()
        self.name = "overfitted"
        self.arm_hidden, self.syn_hidden, self.syn_depth, self.seed = arm_hidden, syn_hidden, syn_depth, seed
        self.context = tuple(context)
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)  # carries the device
        self.on_step: Callable[[int, float, float], None] | None = None
        self.last_fit: dict = {}

    def _device(self) -> torch.device:
        return self._anchor.device

    def fingerprint(self) -> int:
        return tables_fingerprint()

    # -- encoding ----------------------------------------------------------------------------------------------

    def fit(self, x: torch.Tensor, quality: int | None = None, effort: str | None = None, **overrides) -> OverfittedNet:
        """Train the network of one image (no quantization of weights yet). ``overrides``: ``soft``, ``hard``,
        ``lr`` (steps and learning rate in place of the effort's), ``mode`` (``"soft"`` or ``"noise"``: the
        quantization stand-in of the first phase), ``arm`` (``False``: no ARM, one Laplace law per grid),
        ``learn_up`` (``False``: fixed bicubic upsampling), ``net_lr`` (the networks' learning rate relative to the
        latents'), for the chapter's ablations and the measurements behind the defaults."""
        opts = self.check_options({"quality": quality, "effort": effort})
        lmbda = QUALITY_LAMBDAS[opts["quality"]]
        plan = EFFORTS[opts["effort"]]
        soft, hard = overrides.get("soft", plan.soft), overrides.get("hard", plan.hard)
        lr = overrides.get("lr", plan.lr)
        x = self._check_image(x)[None].to(self._device(), torch.float32)
        h, w = x.shape[-2:]
        torch.manual_seed(self.seed)
        net = OverfittedNet(h, w, self.arm_hidden, self.syn_hidden, self.syn_depth, self.context).to(x.device)
        if overrides.get("learn_up", True) is False:
            net.up.requires_grad_(False)
        if overrides.get("arm", True) is False:
            _disable_arm(net)
        params = [p for p in net.parameters() if p.requires_grad]
        latents = [p for p in net.latents if p.requires_grad]
        networks = [p for p in params if all(p is not q for q in latents)]
        net_scale = overrides.get("net_lr", 1.0)  # the networks' learning rate relative to the latents'
        opt = torch.optim.Adam([{"params": latents, "scale": 1.0}, {"params": networks, "scale": net_scale}], lr=lr)
        pixels = h * w
        started = time.perf_counter()
        mode = overrides.get("mode", "soft")
        bar = progress(total=soft + hard, desc="overfitting", disable=not self._show)
        history = []
        for step in range(soft + hard):
            if step < soft:
                frac = step / max(soft, 1)
                for g in opt.param_groups:
                    g["lr"] = g["scale"] * lr * 0.5 * (1 + math.cos(math.pi * frac))
                temperature = T_START + (T_END - T_START) * frac
                x_hat, bits = net(mode, temperature)
            else:
                if step == soft:
                    opt = torch.optim.Adam(params, lr=1e-4)
                x_hat, bits = net("ste")
            mse = F.mse_loss(x_hat, x)
            loss = lmbda * 255**2 * mse + bits / pixels
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            if step % 25 == 0 or step == soft + hard - 1:
                bpp, psnr = float(bits.detach()) / pixels, float(-10 * torch.log10(mse.detach().clamp_min(1e-10)))
                history.append((step, bpp, psnr))
                bar.set_postfix_str(f"{bpp:.3f} bpp, {psnr:.2f} dB")
                if self.on_step is not None:
                    self.on_step(step, bpp, psnr)
            bar.update()
        bar.close()
        self.last_fit = {"seconds": time.perf_counter() - started, "steps": soft + hard, "history": history}
        net.target, net.lmbda = x, lmbda  # what encode_net measures the weights' quantization against
        return net

    _show = True  # progress bars follow helpers.runtime.someone_watching; set False to silence one codec

    @torch.no_grad()
    def _choose_steps(self, net: OverfittedNet, x: torch.Tensor, lmbda: float) -> dict[str, int]:
        """The quantization step of each weight group, chosen greedily by measured rate-distortion cost (weights'
        bits included); the network keeps its float weights."""
        floats = {name: [t.detach().clone() for t in ts] for name, ts in net.groups().items()}
        chosen: dict[str, int] = {}
        pixels = x.shape[-2] * x.shape[-1]
        grids = net.quantized("hard")
        for name in ("arm", "up", "syn"):
            best = None
            for k in _STEPS[name]:
                for t, f in zip(net.groups()[name], floats[name], strict=True):
                    t.copy_(torch.round(f * 2.0**k) / 2.0**k)
                ints = [_quantize(t, k) for t in net.groups()[name]]
                cost_bits = float(net.rate_bits(grids)) + _weight_bits(ints)
                mse = float(F.mse_loss(net.synthesize(grids), x))
                cost = lmbda * 255**2 * mse + cost_bits / pixels
                if best is None or cost < best[0]:
                    best = (cost, k)
            chosen[name] = best[1]
            for t, f in zip(net.groups()[name], floats[name], strict=True):
                t.copy_(torch.round(f * 2.0 ** chosen[name]) / 2.0 ** chosen[name])
        return chosen

    @torch.no_grad()
    def encode_net(self, net: OverfittedNet, steps: dict[str, int] | None = None) -> bytes:
        """Latents and weights of a fitted network -> the bytes of a ``.nic`` file. ``steps``: the quantization
        step exponents of the weight groups (default: chosen by rate-distortion cost on the image it was fitted
        to)."""
        if steps is None:
            steps = self._choose_steps(net, net.target, net.lmbda)
        self.last_fit["steps_k"] = steps
        h, w = net.height, net.width
        weights = {name: [_quantize(t, steps[name]) for t in ts] for name, ts in net.groups().items()}
        rows_above, half = net.context
        head = _HEAD.pack(
            PAYLOAD_VERSION,
            rows_above << 4 | half,
            net.arm_hidden,
            net.syn_hidden,
            net.syn_depth,
            steps["arm"],
            steps["up"],
            steps["syn"],
            0,
        )
        blob = _write_weights(weights["arm"] + weights["up"] + weights["syn"])
        head = head[:-4] + struct.pack("<I", len(blob))
        layout = _Layout(grid_sizes(*sorted((h, w))), net.context)
        grids = net.coding_order(net.quantized("hard"))
        values = torch.cat([g.reshape(-1) for g in grids]).to(torch.int64).cpu().numpy()
        if values.size and np.abs(values).max() >= LATENT_LIMIT:
            raise ValueError("a latent value outside the format's range: the optimization diverged")
        buf = np.zeros(layout.size, np.int64)
        ordered = values[layout.raster]
        buf[layout.flat] = ordered
        layers = list(zip(weights["arm"][0::2], weights["arm"][1::2], strict=True))
        mean, table = IntegerArm(layers, steps["arm"])(buf[layout.context_index(slice(None))])
        stream = encode_indexed(ordered - mean, table)
        self.last_fit["bytes"] = {
            "header": fmt.HEADER_BYTES + len(self.name) + len(head),
            "weights": {name: _weight_bits(ts) / 8 for name, ts in weights.items()},
            "latents": len(stream),
        }
        header = fmt.Header(self.model_id, self.name, h, w, (LEVELS, h, w), self.fingerprint())
        return fmt.pack(header, head + blob + stream)

    def compress(self, x: torch.Tensor, **options) -> bytes:
        opts = self.check_options(options)
        x = self._check_image(x)
        h, w = x.shape[-2:]
        if max(h, w) > 0xFFFF:
            raise ValueError(f"a {w}x{h} image is too large for this format (65535 per side)")
        with self._memory_guard(h, w):
            return self.encode_net(self.fit(x, **opts))

    def reconstruct(self, x: torch.Tensor, rounded: bool = True, **options) -> torch.Tensor:
        """What ``decompress(compress(x))`` returns (an encode: minutes)."""
        return self.decompress(self.compress(x, **options))

    # -- decoding ----------------------------------------------------------------------------------------------

    def _decode(self, header: fmt.Header, payload: bytes) -> torch.Tensor:
        h, w = header.height, header.width
        if len(payload) < _HEAD.size:
            raise fmt.FormatError("payload is too short for its header")
        version, context, arm_hidden, syn_hidden, syn_depth, k_arm, k_up, k_syn, n_weights = _HEAD.unpack_from(payload)
        context = (context >> 4, context & 15)
        if version != PAYLOAD_VERSION:
            raise fmt.FormatError(f"overfitted payload version {version}; this decoder reads {PAYLOAD_VERSION}")
        if not (1 <= arm_hidden <= 64 and 1 <= syn_hidden <= 64 and syn_depth <= 4 and 1 <= min(context)):
            raise fmt.FormatError(f"network sizes {arm_hidden}/{syn_hidden}/{syn_depth}/{context} out of range")
        if not all(1 <= k <= 24 for k in (k_arm, k_up, k_syn)):
            raise fmt.FormatError("weight quantization steps outside 2**-1 .. 2**-24")
        if _HEAD.size + n_weights > len(payload):
            raise fmt.FormatError("weight block runs past the payload")
        net = OverfittedNet(1, 1, arm_hidden, syn_hidden, syn_depth, context)  # shapes; latents come from the stream
        groups = net.groups()
        shapes = [tuple(t.shape) for name in ("arm", "up", "syn") for t in groups[name]]
        reader = BitReader(payload[_HEAD.size : _HEAD.size + n_weights])
        ints = _read_weights(reader, shapes)
        if reader.remaining() >= 8:
            raise fmt.FormatError("weight block is longer than its weights")
        n_arm = len(groups["arm"])
        arm = list(zip(ints[0:n_arm:2], ints[1:n_arm:2], strict=True))
        sizes = grid_sizes(*sorted((h, w)))
        grids = self._decode_latents(payload[_HEAD.size + n_weights :], sizes, arm, k_arm, context)
        if h > w:  # coded transposed (OverfittedNet.coding_order)
            grids = [g.T for g in grids]
        with torch.no_grad():
            floats = ints[n_arm:]
            scales = [k_up] * len(groups["up"]) + [k_syn] * len(groups["syn"])
            tensors = groups["up"] + groups["syn"]
            for t, v, k in zip(tensors, floats, scales, strict=True):
                t.copy_(torch.from_numpy(v.astype(np.float64) / 2.0**k).float())
            if not all(torch.isfinite(t).all() for t in tensors):
                raise fmt.FormatError("weights out of range: a damaged or forged file")
            with _one_thread():
                x_hat = net.synthesize([torch.from_numpy(np.ascontiguousarray(g)).float()[None, None] for g in grids])
        return x_hat[0]

    @staticmethod
    def _decode_latents(stream: bytes, sizes, arm, k_arm, context) -> list[np.ndarray]:
        layout = _Layout(sizes, context)
        buf = np.zeros(layout.size, np.int64)
        arm = IntegerArm(arm, k_arm)
        dec = IndexedDecoder(stream)
        bounds = layout.bounds
        for t in range(len(bounds) - 1):
            sl = slice(bounds[t], bounds[t + 1])
            mean, table = arm(buf[layout.context_index(sl)])
            values = mean + dec.decode(table)
            if np.abs(values).max() >= LATENT_LIMIT:
                raise fmt.FormatError("a latent value outside the format's range: a damaged or forged file")
            buf[layout.flat[sl]] = values
        dec.finish()
        values = np.empty(len(layout.flat), np.int64)
        values[layout.raster] = buf[layout.flat]
        grids, start = [], 0
        for h, w in sizes:
            grids.append(values[start : start + h * w].reshape(h, w))
            start += h * w
        return grids


def _disable_arm(net: OverfittedNet) -> None:
    """Ablation: the ARM sees no neighbours (its input weights fixed at 0), so it learns one Laplace law per
    network, the same for every value: a factorized prior."""
    with torch.no_grad():
        net.arm[0].weight.zero_()
    net.arm[0].weight.requires_grad_(False)


def _tf32(t: torch.Tensor) -> torch.Tensor:
    """Round to TF32's 10-bit mantissa: what a GPU multiplies with when TF32 is on."""
    mantissa, exponent = torch.frexp(t)
    return torch.ldexp(torch.round(mantissa * 2**11) / 2**11, exponent)


@torch.no_grad()
def float_arm_tables(net: OverfittedNet, ctx: torch.Tensor, arithmetic: str = "float64") -> torch.Tensor:
    """The tables a *float* ARM would pick: ``(2, N)`` means in eighths and scale indices, computed in
    ``arithmetic``: ``"float64"``, ``"float32"``, or ``"tf32"`` (float32 with operands rounded to TF32's mantissa,
    as a GPU computes with TF32 on). For the book's demonstration of why the decoder does not use float."""
    dtype = torch.float64 if arithmetic == "float64" else torch.float32
    a = ctx.to("cpu", dtype)
    for n, layer in enumerate(net.arm):
        w, b = layer.weight.detach().to("cpu", dtype), layer.bias.detach().to("cpu", dtype)
        if arithmetic == "tf32":
            a, w = _tf32(a), _tf32(w)
        a = a @ w.T + b
        a = torch.relu(a) if n < len(net.arm) - 1 else a
    return torch.stack([torch.round(a[:, 0] * MEAN_STEPS), torch.round(6 * a[:, 1] + SCALE_ZERO).clamp(0, SCALES - 1)])


def encode_variant(
    x: torch.Tensor, quality: int, label: str = "", seed: int = 0, device="cpu", **overrides
) -> dict[str, float | str]:
    """One encode of ``x`` with :meth:`OverfittedCodec.fit`'s ``overrides`` (an ablation or a step budget), its
    real file decoded and measured: bpp, PSNR, MSE, the cost ``lambda * 255**2 * MSE + bpp`` and encode
    seconds."""
    from ..metrics import evaluate

    codec = OverfittedCodec().to(device)
    codec._show = False
    torch.manual_seed(seed)
    started = time.perf_counter()
    data = codec.encode_net(codec.fit(x, quality=quality, **overrides))
    seconds = time.perf_counter() - started
    row = evaluate(x, codec.decompress(data), len(data))
    cost = QUALITY_LAMBDAS[quality] * 255**2 * row["mse"] + row["bpp"]
    return {"variant": label, "bpp": row["bpp"], "psnr": row["psnr"], "cost": cost, "encode s": seconds}
