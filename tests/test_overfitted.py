"""The overfitted codec (a network per image): its integer tables and ARM, its file, bit-exact decoding, bad input."""

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import damaged_files
from scipy.stats import laplace

from helpers import bitstream as fmt
from helpers.codec import FormatError, api
from helpers.codec.cli import main as nic
from helpers.datasets import default_images
from helpers.entropy import golomb
from helpers.entropy import laplace as lap
from helpers.metrics import psnr
from helpers.models import OverfittedCodec
from helpers.models import overfitted as of


@pytest.fixture(scope="module")
def crop():
    return default_images("test")["coffee"][:, 100:148, 200:264]  # 48x64


@pytest.fixture(scope="module")
def codec():
    c = OverfittedCodec()
    c._show = False
    return c


@pytest.fixture(scope="module")
def fitted(codec, crop):
    """A short encode: 150 + 20 steps on a 48x64 crop."""
    torch.manual_seed(0)
    net = codec.fit(crop, quality=6, soft=150, hard=20)
    return net, codec.encode_net(net)


# -- tables, codes and the integer ARM -------------------------------------------------------------------------------


def test_tables_are_the_laplace_law_in_integers():
    tables = lap.laplace_tables()
    assert tables.shape == (lap.MEAN_STEPS * lap.SCALES, 2 * lap.RANGE + 2)
    assert np.all(tables >= 1) and np.all(tables == np.round(tables))
    assert tables.sum(axis=1).max() <= lap.TOTAL
    d = np.arange(-lap.RANGE, lap.RANGE + 1)
    for f, s in [(0, 0), (3, 20), (7, 63), (5, 40)]:
        b, mean = lap.scale_of(s), f / lap.MEAN_STEPS
        p = laplace.cdf(d + 0.5, mean, b) - laplace.cdf(d - 0.5, mean, b)
        got = tables[f * lap.SCALES + s][:-1] / lap.TOTAL
        assert np.abs(got - p).max() < (2 * lap.RANGE + 3) / lap.TOTAL  # the floor of 1 count per entry


def test_tables_fingerprint_is_pinned():
    """Built with correctly rounded decimal arithmetic: the same integers on every machine and Python version.
    Files record this value; a change of it means files written before no longer decode."""
    assert lap.tables_fingerprint() == 0x7ED92C35


def test_indexed_coder_round_trip_with_escapes():
    rng = np.random.default_rng(1)
    n = 5000
    tables = rng.integers(0, lap.MEAN_STEPS * lap.SCALES, n)
    symbols = np.round(rng.laplace(0, 4, n)).astype(np.int64)
    symbols[[3, 100, 4999]] = [1000, -(2**31), 2**31 - 1]
    data = lap.encode_indexed(symbols, tables)
    dec = lap.IndexedDecoder(data)
    got = np.concatenate([dec.decode(tables[i : i + 77]) for i in range(0, n, 77)])
    dec.finish()
    assert np.array_equal(got, symbols)
    with pytest.raises(ValueError):
        bad = lap.IndexedDecoder(data[:-8])
        bad.decode(tables)
        bad.finish()


def test_exp_golomb_round_trip_and_truncation():
    rng = np.random.default_rng(2)
    values = rng.integers(-5000, 5000, 300)
    w = golomb.BitWriter()
    k = golomb.best_order(values)
    golomb.write_signed(w, values, k)
    data = w.getvalue()
    assert len(data) * 8 - golomb.golomb_bits(values, k) < 8
    assert np.array_equal(golomb.read_signed(golomb.BitReader(data), 300, k), values)
    with pytest.raises(ValueError):
        golomb.read_signed(golomb.BitReader(data[: len(data) // 2]), 300, k)
    with pytest.raises(ValueError):
        golomb.read_signed(golomb.BitReader(bytes(20)), 1, 0)  # 160 zeros: no codeword is that long


def test_integer_arm_is_the_float_arm_rounded():
    """The integer ARM the decoder runs against the float one the encoder trained, on the same quantized weights:
    means within an eighth, scale indices within one step; and it is exact integer arithmetic (the order of the
    sums cannot matter)."""
    torch.manual_seed(3)
    net = of.OverfittedNet(8, 8)
    k = 8
    with torch.no_grad():
        for layer in net.arm:
            layer.weight.mul_(3)
            layer.bias.normal_(0, 0.5)
            layer.weight.copy_(torch.round(layer.weight * 2**k) / 2**k)
            layer.bias.copy_(torch.round(layer.bias * 2**k) / 2**k)
    ctx = torch.randint(-20, 21, (2000, len(of.context_offsets(*of.CONTEXT)))).float()
    mu, t = net.arm_float(ctx)
    layers = [(of._quantize(layer.weight, k), of._quantize(layer.bias, k)) for layer in net.arm]
    mean, table = of.arm_integer(ctx.long().numpy(), layers, k)
    offset, scale = np.divmod(table, lap.SCALES)
    q = mean * 8 + offset
    assert np.abs(q / 8 - mu.detach().numpy()).max() <= 1 / 8 + 0.05
    expect_s = np.clip(np.round(t.detach().numpy()), 0, lap.SCALES - 1)
    assert np.abs(scale - expect_s).max() <= 1
    # the same integers from Python's own (unbounded) integers, one row at a time
    for row in range(0, 2000, 97):
        a = [max(-of.CLIP, min(of.CLIP, int(v))) << of.ACT_BITS for v in ctx[row]]
        for n, (w, b) in enumerate(layers):
            a = [
                (sum(int(wi) * ai for wi, ai in zip(wr, a)) + (int(bi) << of.ACT_BITS) + (1 << (k - 1))) >> k
                for wr, bi in zip(w, b)
            ]
            a = [max(v, 0) for v in a] if n < len(layers) - 1 else a
        q = (a[0] + (1 << (of.ACT_BITS - 4))) >> (of.ACT_BITS - 3)
        assert (q >> 3, q & 7) == (mean[row], offset[row])


def test_upsampling_starts_as_bicubic():
    net = of.OverfittedNet(40, 50)
    u = torch.randn(1, 3, 13, 17)
    with torch.no_grad():
        got = net._up2(u, 0, (26, 34))
    want = F.interpolate(u, scale_factor=2, mode="bicubic", align_corners=False)
    assert torch.allclose(got, want, atol=1e-5)


def test_wavefronts_only_read_decoded_neighbours():
    layout = of._Layout(of.grid_sizes(9, 13))
    decoded = np.zeros(layout.size, bool)
    decoded[:] = True
    decoded[layout.flat] = False  # padding counts as decoded (zeros); every latent position starts unknown
    for t in range(len(layout.bounds) - 1):
        sl = slice(layout.bounds[t], layout.bounds[t + 1])
        assert decoded[layout.context_index(sl)].all()
        decoded[layout.flat[sl]] = True
    assert decoded.all()


# -- the file ------------------------------------------------------------------------------------------------------


def test_round_trip_decodes_what_the_encoder_measured(codec, fitted, crop):
    net, data = fitted
    x_hat = codec.decompress(data)
    assert x_hat.shape == crop.shape
    header, _ = fmt.unpack(data)
    assert header.model_id == 5 and header.name == "overfitted"
    assert float(psnr(x_hat, crop)) > 22  # 170 steps at quality 6; the default effort reaches far more
    # the encoder's own view of the decode: its network with the quantized weights, on rounded latents
    steps = codec.last_fit["steps_k"]
    with torch.no_grad():
        for name, tensors in net.groups().items():
            for t in tensors:
                t.copy_(torch.round(t * 2.0 ** steps[name]) / 2.0 ** steps[name])
        mine = net.synthesize(net.quantized("hard"))[0].clamp(0, 1)
    assert (mine - x_hat).abs().max() < 1e-4


def test_the_file_carries_everything(fitted):
    """No checkpoint: a second process decodes with nothing but the bytes, to the same pixels, with 1 and 2
    threads."""
    _, data = fitted
    code = (
        "import sys, torch, hashlib; from helpers.codec import decompress; torch.set_num_threads(int(sys.argv[1]));"
        "x = decompress(sys.stdin.buffer.read()); print(hashlib.sha256(x.numpy().tobytes()).hexdigest())"
    )
    digests = {
        subprocess.run([sys.executable, "-c", code, str(n)], input=data, capture_output=True, check=True).stdout.strip()
        for n in (1, 2)
    }
    here = {}
    for n in (1, 2):
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        here[n] = api.decompress(data)
        torch.set_num_threads(before)
    assert torch.equal(here[1], here[2])
    assert len(digests) == 1


@pytest.mark.parametrize("h, w", [(1, 1), (3, 70), (17, 15)])
def test_any_size(codec, h, w):
    x = torch.rand(3, h, w, generator=torch.Generator().manual_seed(h * w))
    data = codec.encode_net(codec.fit(x, quality=4, soft=10, hard=2))
    assert codec.decompress(data).shape == (3, h, w)


def test_api_and_options(crop):
    data = api.compress(crop[:, :16, :16], "overfitted", quality=1, effort="fast")
    assert api.decompress(data).shape == (3, 16, 16)
    for bad in ({"quality": 0}, {"quality": 9}, {"quality": 2.5}, {"effort": "slow"}, {"bits": 3}):
        with pytest.raises(ValueError, match=r"quality|effort|option"):
            api.compress(crop, "overfitted", **bad)


def test_cli_refuses_bad_options_in_one_line(tmp_path, capsys):
    src = tmp_path / "in.png"
    from helpers.images import to_pil

    to_pil(torch.rand(3, 8, 8)).save(src)
    for args in (["--quality", "9"], ["--effort", "slow"]):
        assert nic(["encode", str(src), str(tmp_path / "out.nic"), "--model", "overfitted", *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and ("quality" in err or "effort" in err)
    assert not (tmp_path / "out.nic").exists()


def test_damaged_and_forged_files_fail_cleanly(codec, fitted):
    _, data = fitted
    for bad in damaged_files(data, 60, seed=5):
        try:
            x = codec.decompress(bad)
        except FormatError:
            continue
        assert torch.isfinite(x).all()


def test_forged_payloads_with_valid_crc(codec, fitted):
    """Payload bytes changed and the CRC recomputed: the checks after the CRC must hold on their own."""
    _, data = fitted
    header, payload = fmt.unpack(data)
    rng = np.random.default_rng(7)
    for i in range(40):
        p = bytearray(payload)
        if i % 4 == 0:
            p[0] = int(rng.integers(2, 256))  # payload version
        elif i % 4 == 1:
            p[1 + int(rng.integers(0, 6))] = int(rng.integers(0, 256))  # widths, steps
        elif i % 4 == 2:
            p = p[: int(rng.integers(0, len(p)))]
        else:
            p[int(rng.integers(0, len(p)))] ^= 1 << int(rng.integers(0, 8))
        forged = fmt.pack(header, bytes(p))
        try:
            x = codec.decompress(forged)
        except FormatError:
            continue
        assert torch.isfinite(x).all() and x.shape == (3, header.height, header.width)


def test_training_rate_is_the_arm_on_the_contexts():
    """The encoder's fast rate (features along rows, no context matrix) is the plain ARM on the context matrix."""
    torch.manual_seed(4)
    net = of.OverfittedNet(37, 29)
    with torch.no_grad():
        for g in net.latents:
            g.normal_(0, 0.3)
        for layer in net.arm:
            layer.weight.normal_(0, 0.3)
    grids = net.quantized("soft", 0.3)
    assert torch.allclose(net.rate_bits(grids), net.rate_bits_reference(grids), rtol=1e-5)
