import io

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.classical import CLASSICAL, OPTIONAL, classical_codecs
from helpers.datasets import default_images
from helpers.evaluate import encode_decode, rd_sweep
from helpers.images import to_uint8
from helpers.metrics import bpp, psnr


@pytest.fixture(scope="module")
def square_photo():
    return default_images("test")["astronaut"][:, 100:292, 150:342]  # 192x192 keeps the tests fast


@pytest.mark.parametrize("name", list(CLASSICAL))
def test_bytes_are_a_real_file_that_decodes(name, square_photo):
    codec = CLASSICAL[name]
    setting = codec.settings[len(codec.settings) // 2]
    data, x_hat = encode_decode(square_photo, codec, setting)
    assert isinstance(data, bytes) and len(data) > 100
    with Image.open(io.BytesIO(data)) as img:  # any Pillow reads the file on its own
        assert img.format == codec.pillow_format and img.size == (192, 192)
        independent = np.asarray(img.convert("RGB"))
    np.testing.assert_array_equal(to_uint8(x_hat), independent)
    assert x_hat.shape == square_photo.shape and 24 < float(psnr(square_photo, x_hat)) < 60


@pytest.mark.parametrize("name", list(CLASSICAL))
def test_rate_knob_moves_rate_and_quality_together(name, square_photo):
    codec = CLASSICAL[name]
    low, high = codec.settings[0], codec.settings[-1]
    d_low, x_low = encode_decode(square_photo, codec, low)
    d_high, x_high = encode_decode(square_photo, codec, high)
    assert len(d_low) < len(d_high)
    assert float(psnr(square_photo, x_low)) < float(psnr(square_photo, x_high))


def test_jpeg2000_rate_setting_hits_its_target(square_photo):
    data = CLASSICAL["JPEG 2000"].compress(square_photo, 24)  # 24 bits / 24 = 1 bpp
    assert bpp(len(data), 192, 192) == pytest.approx(1.0, rel=0.05)


@pytest.mark.parametrize("name", list(CLASSICAL))
@pytest.mark.parametrize("h, w", [(1, 1), (15, 17), (3, 200)])
def test_odd_and_tiny_sizes(name, h, w):
    x = torch.rand(3, h, w, generator=torch.Generator().manual_seed(h * w))
    codec = CLASSICAL[name]
    _, x_hat = encode_decode(x, codec, codec.settings[-1])
    assert x_hat.shape == (3, h, w)


@pytest.mark.parametrize("name", list(CLASSICAL))
def test_corrupt_and_foreign_streams_raise_value_error(name, square_photo):
    codec = CLASSICAL[name]
    data = codec.compress(square_photo, codec.settings[-1])
    bad_inputs = [b"", b"garbage" * 10, data[: len(data) // 3], data[:16]]
    other = CLASSICAL["WebP" if name != "WebP" else "JPEG"]
    bad_inputs.append(other.compress(square_photo, other.settings[-1]))
    for bad in bad_inputs:
        with pytest.raises(ValueError):
            codec.decompress(bad)


def test_bad_settings():
    with pytest.raises(ValueError, match=r"0\.\.100"):
        CLASSICAL["JPEG"].compress(torch.rand(3, 8, 8), 101)
    with pytest.raises(ValueError, match=">= 1"):
        CLASSICAL["JPEG 2000"].compress(torch.rand(3, 8, 8), 0.5)
    with pytest.raises(ValueError, match="unknown codec"):
        classical_codecs(["jpeg-xr"])
    assert [c.name for c in classical_codecs(["jpeg2000", "avif"])] == ["JPEG 2000", "AVIF"]


def test_rd_sweep_rows(square_photo):
    images = {"a": square_photo, "b": square_photo.flip(-1)}
    rows = rd_sweep(images, classical_codecs(["jpeg", "webp"]), settings={"JPEG": [20, 80]}, quick=True)
    assert set(rows["codec"]) == {"JPEG", "WebP"}
    assert len(rows) == 2 * 2 + len(CLASSICAL["WebP"].quick_settings) * 2
    np.testing.assert_allclose(rows["bpp"], 8 * rows["bytes"] / (192 * 192))
    for col in ["psnr", "ssim", "ms_ssim", "encode_s", "decode_s"]:
        assert rows[col].notna().all(), col
    jpeg = rows[rows.codec == "JPEG"].groupby("setting")["psnr"].mean()
    assert jpeg[80] > jpeg[20]


def test_modern_codecs_beat_jpeg_at_equal_rate():
    """The ordering every codec paper reports: at about 0.5 bpp, WebP and AVIF give higher PSNR than JPEG."""
    x = default_images("test")["astronaut"]

    def psnr_at(codec, target_bpp):
        best = min(codec.settings, key=lambda s: abs(bpp(len(codec.compress(x, s)), 512, 512) - target_bpp))
        data, x_hat = encode_decode(x, codec, best)
        return float(psnr(x, x_hat)), bpp(len(data), 512, 512)

    p_jpeg, r_jpeg = psnr_at(CLASSICAL["JPEG"], 0.5)
    for name in ["WebP", "AVIF"]:
        p, r = psnr_at(CLASSICAL[name], r_jpeg)
        assert r <= r_jpeg * 1.15 and p > p_jpeg + 1.0, name


@pytest.mark.parametrize("name", list(CLASSICAL))
def test_encode_at_bpp_respects_the_budget(name, square_photo):
    from helpers.classical import encode_at_bpp

    codec = CLASSICAL[name]
    setting, data, x_hat = encode_at_bpp(square_photo, codec, 0.8)
    rate = bpp(len(data), 192, 192)
    assert rate <= 0.8 * 1.02 and rate > 0.3, (setting, rate)  # JPEG 2000's rate control lands within ~1 %
    assert x_hat.shape == square_photo.shape
    if name != "JPEG 2000":  # one quality step more would break the budget
        higher = min(setting + 1, 100)
        assert higher == setting or bpp(len(codec.compress(square_photo, higher)), 192, 192) > 0.8


JXL = OPTIONAL["JPEG XL"]
needs_jxl = pytest.mark.skipif(not JXL.available(), reason="imagecodecs with libjxl is not installed (nic-book[jxl])")


@needs_jxl
def test_jpeg_xl_writes_a_codestream_whose_distance_moves_rate_and_quality(square_photo):
    (d_low, x_low), (d_high, x_high) = (
        encode_decode(square_photo, JXL, d) for d in (JXL.settings[0], JXL.settings[-1])
    )
    assert d_low[:2] == b"\xff\x0a" and len(d_low) < len(d_high)  # the bare JPEG XL codestream signature
    assert x_low.shape == square_photo.shape and float(psnr(square_photo, x_low)) < float(psnr(square_photo, x_high))
    assert float(psnr(square_photo, x_high)) > 35  # distance 0.5 is near-lossless
    assert [c.name for c in classical_codecs("all")][-1] == "JPEG XL"
    assert "JPEG XL" not in [c.name for c in classical_codecs()]  # the default four stay the default


@needs_jxl
@pytest.mark.parametrize("h, w", [(1, 1), (15, 17), (3, 200)])
def test_jpeg_xl_odd_and_tiny_sizes(h, w):
    x = torch.rand(3, h, w, generator=torch.Generator().manual_seed(h * w))
    assert encode_decode(x, JXL, 1.0)[1].shape == (3, h, w)


@needs_jxl
def test_jpeg_xl_refuses_corrupt_foreign_streams_and_bad_distances(square_photo):
    data = JXL.compress(square_photo, 2.0)
    for bad in [b"", b"garbage" * 10, data[: len(data) // 3], data[:16], CLASSICAL["JPEG"].compress(square_photo, 50)]:
        with pytest.raises(ValueError):
            JXL.decompress(bad)
    with pytest.raises(ValueError, match="distance"):
        JXL.compress(square_photo, 0)
