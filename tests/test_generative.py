"""The generative codec (Santurkar et al. 2018): DCGAN parts, the CDF-domain latent quantizer, real bytes, training."""

import math
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from helpers import bitstream as fmt
from helpers import checkpoints
from helpers.codec import FormatError, api
from helpers.datasets import default_images, random_patches
from helpers.images import to_pil
from helpers.models import Discriminator, FactorizedPrior, GenerativeCodec, Generator
from helpers.models.dcgan import MAX_BITS, dequantize_latent, quantize_latent
from helpers.train import TrainConfig, fit_encoder, fit_gan, train

TINY = TrainConfig(
    arch="GenerativeCodec",
    model_config={"latent_dim": 8, "channels": 8, "size": 16, "bits": 3},
    stage="gan",
    steps=30,
    batch_size=16,
    lr=2e-4,
    lr_final=2e-4,
    data="default-train",
    save_every_s=1e9,
)


@pytest.fixture(scope="module")
def codec(tmp_path_factory):
    """A tiny codec: 30 GAN steps, then 40 encoder steps with the generator frozen, exported and reloaded."""
    root = tmp_path_factory.mktemp("gen")
    train(replace(TINY, run_dir=str(root / "gan"), export=str(root / "gan.pt"), name="tiny-gan"))
    train(
        replace(
            TINY,
            stage="encoder",
            steps=40,
            lr=2e-3,
            run_dir=str(root / "enc"),
            init_from=str(root / "gan.pt"),
            export=str(root / "tiny-gen.pt"),
            name="tiny-gen",
        ),
        command="pytest",
    )
    return checkpoints.load(root / "tiny-gen.pt")


@pytest.fixture(scope="module")
def tile_photo():
    return default_images("test")["coffee"][:, 40:111, 60:150]  # 71 x 90: not a multiple of the 16-pixel tile


@pytest.mark.parametrize("size", [16, 32, 64])
def test_shapes(size):
    g, d = Generator(latent_dim=10, channels=8, size=size), Discriminator(channels=8, size=size)
    x = g(torch.randn(3, 10))
    assert x.shape == (3, 3, size, size) and 0 <= x.min() and x.max() <= 1
    assert d(x).shape == (3,)
    out = GenerativeCodec(latent_dim=10, channels=8, size=size).eval()(x)
    assert out.x_hat.shape == x.shape and out.mu.shape == out.logvar.shape == (3, 10)
    with pytest.raises(ValueError, match="power of two"):
        Generator(size=48)


def test_quantizer_bins_are_equiprobable_nested_and_inverted():
    z = torch.randn(200_000, generator=torch.Generator().manual_seed(0))
    for bits in (1, 3, 5):
        k = quantize_latent(z, bits)
        share = torch.bincount(k, minlength=2**bits).float() / len(z)
        assert torch.allclose(share, torch.full_like(share, 2.0**-bits), atol=4e-3)  # N(0,1) fills bins evenly
        assert torch.equal(k, quantize_latent(z, bits + 1) >> 1)  # b bits are unions of b + 1 bits' bins
        centre = dequantize_latent(k, bits)
        assert torch.equal(quantize_latent(centre, bits), k)  # each centre lies in its own bin
    assert quantize_latent(torch.tensor([-50.0, 50.0]), 4).tolist() == [0, 15]  # tails clamp to the end bins
    with pytest.raises(ValueError, match=r"1\.\.8"):
        quantize_latent(z, MAX_BITS + 1)


def _sampler(size, batch=16):
    images = list(default_images("train").values())
    return lambda step: random_patches(images, batch, size, torch.Generator().manual_seed(step))


def test_gan_steps_teach_the_discriminator_then_the_encoder_learns_to_invert_the_generator():
    torch.manual_seed(0)
    model, d = GenerativeCodec(latent_dim=8, channels=8, size=16), Discriminator(channels=8, size=16)
    opts = (
        torch.optim.Adam(model.generator.parameters(), 2e-4, betas=(0.5, 0.999)),
        torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999)),
    )
    enc, gen = _copy(model.encoder), _copy(model.generator)
    log = []
    fit_gan(
        model,
        d,
        _sampler(16),
        opts,
        start=0,
        steps=40,
        lr_at=lambda s: 2e-4,
        on_step=lambda s, p: log.append(p["d_loss"]),
    )
    assert sum(log[-10:]) < sum(log[:10])  # starts at 2 log 2: D cannot yet tell photos from G's tiles
    assert _same(enc, model.encoder) and not _same(gen, model.generator)

    gen = _copy(model.generator)
    with torch.no_grad():  # tiles the generator can make: an encoder that inverts it gets them back exactly
        batch = model.generator.eval()(torch.randn(16, 8))
    log.clear()
    fit_encoder(
        model,
        lambda step: batch,
        torch.optim.Adam(model.encoder.parameters(), 2e-3),
        start=0,
        steps=40,
        lr_at=lambda s: 2e-3,
        kl_weight=0.0,
        on_step=lambda s, p: log.append(p["distortion"]),
    )
    assert sum(log[-5:]) < 0.2 * sum(log[:5])  # measured: 0.0088 -> 0.0002
    assert _same(gen, model.generator)  # batch-norm statistics included: it ran in eval mode


def _copy(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def _same(before, module):
    return all(torch.equal(v, module.state_dict()[k]) for k, v in before.items())


def test_train_exports_a_codec_with_both_stages_budget(codec):
    assert codec.meta["stage"] == "encoder" and codec.meta["total_steps"] == 70
    assert "lambda" not in codec.meta and codec.meta["distortion"] == "l2"
    with pytest.raises(ValueError, match="does not train"):
        train(replace(TINY, arch="FactorizedPrior", model_config={}))


def test_decoder_output_equals_what_the_encoder_measured(codec, tile_photo):
    for bits in (1, 3, 8):
        data = codec.compress(tile_photo, bits=bits)
        x_hat = codec.decompress(data)
        assert x_hat.shape == tile_photo.shape
        assert torch.equal(x_hat, codec.reconstruct(tile_photo, bits=bits))
    header, payload = fmt.unpack(data)
    assert header.latent_shape == (8, math.ceil(71 / 16), math.ceil(90 / 16)) and payload[0] == 8


def test_rate_grows_with_bits_and_entropy_coding_beats_the_fixed_length_code(codec, tile_photo):
    sizes = [len(codec.compress(tile_photo, bits=b)) for b in range(1, MAX_BITS + 1)]
    assert sizes == sorted(sizes)
    k, _ = codec.encode_indices(tile_photo, 8)
    overhead = len(fmt.pack(fmt.Header(3, codec.name, 71, 90, (8, 5, 6), 0), b"")) + 1 + 4  # header, bits, escapes
    assert sizes[-1] - overhead < k.numel()  # under 8 bits per number: the counts are not uniform


def test_the_tables_come_from_training_tiles(codec):
    counts = codec.index_counts
    assert counts.shape == (8, 2**MAX_BITS) and int(counts.min()) >= 1
    assert int(counts.sum()) == 8 * (8192 + 2**MAX_BITS)  # 8192 tiles, plus one per bin
    t = codec.tables(2)
    assert [len(f) for f in t.freqs] == [5] * 8  # four indices and the escape
    assert int(t.freqs[0][:4].sum()) == int(counts[0].sum())


def test_bad_files_are_refused(codec, tile_photo):
    data = bytearray(codec.compress(tile_photo, bits=2))
    header, payload = fmt.unpack(bytes(data))
    for bad_bits in (0, 9):
        forged = fmt.pack(header, bytes([bad_bits]) + payload[1:])
        with pytest.raises(FormatError, match="bits-per-dimension"):
            codec.decompress(forged)
    with pytest.raises(FormatError, match="CRC"):
        codec.decompress(bytes(data[:-3]))
    other = GenerativeCodec(latent_dim=8, channels=8, size=16)
    with pytest.raises(FormatError, match="other weights"):
        other.decompress(bytes(data))
    for bad in (9, 0, -1, 2.5, True):  # declared options are checked: nothing falls back to a default silently
        with pytest.raises(ValueError, match="bits must be an integer from 1 to 8"):
            codec.compress(tile_photo, bits=bad)
    with pytest.raises(ValueError, match="has no option depth: it takes bits"):
        codec.compress(tile_photo, depth=2)


def test_api_and_cli_take_bits(codec, tile_photo, tmp_path):
    path = tmp_path / "tiny-gen.pt"
    checkpoints.export(codec, path, "tiny-gen", codec.meta)
    data = api.compress(tile_photo, str(path), bits=2)
    assert fmt.unpack(data)[1][0] == 2
    assert torch.equal(api.decompress(data, str(path)), codec.reconstruct(tile_photo, bits=2))
    with pytest.raises(ValueError, match="has no option bits: it takes none"):
        api.compress(tile_photo, FactorizedPrior(channels=8, latent_channels=8), bits=2)
    src = tmp_path / "in.png"
    to_pil(tile_photo).save(src)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "helpers.codec",
            "encode",
            str(src),
            str(tmp_path / "a.nic"),
            "--model",
            str(path),
            "--bits",
            "4",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert fmt.unpack((tmp_path / "a.nic").read_bytes())[1][0] == 4


def test_quantization_aware_forward_decodes_the_real_indices_and_passes_gradients(codec, tile_photo):
    tiles, _ = codec._tiles(tile_photo)
    codec.eval()
    out = codec(tiles, bits=2)
    k, _ = codec.encode_indices(tile_photo, 2)
    with torch.no_grad():
        expected = codec.generator(dequantize_latent(k.T, 2))
    assert torch.allclose(out.x_hat, expected, atol=1e-6)  # the training forward sees what the decoder will
    codec.encoder.requires_grad_(True)
    codec(tiles[:4], bits=2).x_hat.mean().backward()  # straight through the rounding
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in codec.encoder.parameters())
    codec.zero_grad(set_to_none=True)
