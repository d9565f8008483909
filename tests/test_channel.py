"""The noisy-channel experiment of chapter 4: bit flips in bytes and in fixed-length latent indices."""

import numpy as np
import pytest
import torch

from helpers.channel import decode_damaged_jpeg, flip_bits, flip_index_bits, noise_tolerance
from helpers.classical import classical_codecs
from helpers.datasets import default_images
from helpers.models import GenerativeCodec


def test_flip_bits_flips_the_expected_share():
    data = bytes(range(256)) * 40
    rng = np.random.default_rng(0)
    assert flip_bits(data, 0.0, rng) == data
    assert flip_bits(data, 1.0, rng) == bytes(255 - b for b in data)
    flipped = np.unpackbits(np.frombuffer(flip_bits(data, 0.01, rng), np.uint8) ^ np.frombuffer(data, np.uint8))
    assert flipped.mean() == pytest.approx(0.01, rel=0.15)


def test_flip_index_bits_stays_in_range_and_flips_each_bit():
    k = torch.randint(0, 8, (64, 500), generator=torch.Generator().manual_seed(0))
    rng = np.random.default_rng(0)
    assert torch.equal(flip_index_bits(k, 3, 0.0, rng), k)
    assert torch.equal(flip_index_bits(k, 3, 1.0, rng), 7 - k)
    out = flip_index_bits(k, 3, 0.1, rng)
    assert 0 <= int(out.min()) and int(out.max()) < 8
    changed_bits = sum(((out ^ k) >> i & 1).sum() for i in range(3)) / (3 * k.numel())
    assert float(changed_bits) == pytest.approx(0.1, rel=0.1)


def test_a_damaged_jpeg_decodes_to_an_image_or_to_none():
    x = default_images("test")["coffee"][:, :64, :80]
    data = classical_codecs(["JPEG"])[0].compress(x, 50)
    assert decode_damaged_jpeg(data, (64, 80)).shape == x.shape
    assert decode_damaged_jpeg(data, (64, 81)) is None  # wrong size: refused
    assert decode_damaged_jpeg(b"\xff\xd8 not a jpeg", (64, 80)) is None


def test_noise_tolerance_rows():
    torch.manual_seed(0)
    model = GenerativeCodec(latent_dim=8, channels=8, size=16).eval()
    images = {"coffee": default_images("test")["coffee"][:, :64, :64]}
    rows = noise_tolerance(images, model, bits=3, jpeg_quality=10, error_rates=(0.0, 0.05), trials=2)
    assert len(rows) == 3 * 2 * 2
    clean = rows[rows.error_rate == 0].groupby("stream")
    assert not clean.failed.any().any()
    psnr = clean.psnr.mean()
    assert psnr["latent"] == pytest.approx(psnr[".nic"])  # the same indices, coded two ways
    noisy = rows[rows.error_rate == 0.05]
    assert noisy[noisy.stream == ".nic"].failed.all()  # the CRC refuses any damage
    assert not noisy[noisy.stream == "latent"].failed.any()  # a fixed-length code always decodes
