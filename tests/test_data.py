import numpy as np
import pytest
import torch
from PIL import Image

from helpers import datasets as data
from helpers.datasets import (
    EMBEDDED,
    TEST_NAMES,
    TRAIN_NAMES,
    DatasetUnavailable,
    default_images,
    load_folder,
    load_images,
)
from helpers.images import crop, load_image, pad_to_multiple, to_tensor, to_uint8


def test_embedded_split_is_fixed_disjoint_and_complete():
    assert set(TEST_NAMES).isdisjoint(TRAIN_NAMES)
    assert set(TEST_NAMES) | set(TRAIN_NAMES) == set(EMBEDDED) and len(EMBEDDED) == 8
    assert TEST_NAMES == ("astronaut", "coffee", "motorcycle")
    assert all(EMBEDDED[n].lossless for n in TEST_NAMES)  # codecs are judged on lossless originals


def test_default_images_are_rgb_unit_float():
    imgs = default_images("all")
    assert list(imgs) == list(EMBEDDED)
    for name, x in imgs.items():
        assert x.dtype == torch.float32 and x.ndim == 3 and x.shape[0] == 3, name
        assert 0 <= x.min() and x.max() <= 1 and x.std() > 0.05, name
    assert imgs["astronaut"].shape == (3, 512, 512)
    assert imgs["motorcycle"].shape == (3, 500, 741)  # an odd width on purpose


def test_default_images_returns_copies():
    a = default_images("test")["astronaut"]
    a.zero_()
    assert default_images("test")["astronaut"].max() > 0


def test_bad_split():
    with pytest.raises(ValueError, match="split"):
        default_images("validation")


def test_uint8_roundtrip_is_exact():
    a = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    np.testing.assert_array_equal(to_uint8(to_tensor(a)), a)


@pytest.mark.parametrize("mode", ["L", "1", "P", "LA", "RGBA", "CMYK", "YCbCr", "I;16", "I", "F"])
def test_every_pil_mode_becomes_rgb(mode):
    base = Image.fromarray(np.random.default_rng(1).integers(0, 256, (13, 11, 3), dtype=np.uint8))
    if mode == "F":
        img = Image.fromarray(np.random.default_rng(1).random((13, 11), dtype=np.float32), mode="F")
    elif mode in ("I;16", "I"):
        img = Image.fromarray(np.full((13, 11), 65535 // 3, dtype=np.uint16)).convert(mode)
    else:
        img = base.convert(mode)
    x = to_tensor(img)
    assert x.shape == (3, 13, 11) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1


def test_gray_is_replicated_and_16_bit_keeps_precision():
    g = np.array([[0, 1000, 65535]], dtype=np.uint16)
    x = to_tensor(Image.fromarray(g))  # mode I;16
    assert torch.allclose(x[0], torch.tensor([[0, 1000 / 65535, 1.0]]), atol=1e-7)
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])


def test_alpha_is_composited_over_white():
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red
    rgba[1, 1] = (0, 0, 0, 0)  # fully transparent black -> white
    x = to_tensor(Image.fromarray(rgba, "RGBA"))
    assert torch.allclose(x[:, 0, 0], torch.tensor([1.0, 0, 0]))
    assert torch.allclose(x[:, 1, 1], torch.ones(3))


def test_palette_with_transparency():
    img = Image.new("P", (4, 4), 0)
    img.putpalette([10, 20, 30] + [0, 0, 0] * 255)
    img.info["transparency"] = 0
    x = to_tensor(img)
    assert torch.allclose(x, torch.ones(3, 4, 4))  # the transparent index shows the white background


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.full((4, 4, 3), 2.0), r"\[0, 1\]"),
        (np.zeros((0, 4, 3), dtype=np.uint8), "empty"),
        (np.zeros((4, 4, 5), dtype=np.uint8), "C in 1..4"),
        (np.zeros((4, 4), dtype=np.int8), "dtype"),
        (np.full((4, 4), np.nan), r"\[0, 1\]"),
        (torch.zeros(2, 3, 4, 4), "tensor of shape"),
    ],
)
def test_bad_arrays_are_refused_clearly(bad, message):
    with pytest.raises(ValueError, match=message):
        to_tensor(bad)


def test_load_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "missing.png")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="not an image"):
        load_image(junk)


def test_load_folder(tmp_path):
    for i, mode in enumerate(["RGB", "L", "RGBA"]):
        Image.new(mode, (20 + i, 10)).save(tmp_path / f"im{i}.png")
    (tmp_path / "notes.txt").write_text("ignored")
    imgs = load_folder(tmp_path)
    assert list(imgs) == ["im0", "im1", "im2"]
    assert [tuple(v.shape) for v in imgs.values()] == [(3, 10, 20), (3, 10, 21), (3, 10, 22)]
    assert load_images(str(tmp_path)).keys() == imgs.keys()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no image files"):
        load_folder(empty)
    with pytest.raises(FileNotFoundError):
        load_folder(tmp_path / "nope")


def test_downloads_fail_clearly_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "KODAK_URL", "http://127.0.0.1:9/kodim{:02d}.png")  # nothing listens on port 9
    with pytest.raises(DatasetUnavailable, match="needs the network"):
        data.download_kodak(tmp_path)
    assert not list(tmp_path.glob("*.part"))


def test_shared_sets(shared_data):
    imgs = load_images("cbsd68")
    assert len(imgs) == 68 and all(x.shape[0] == 3 and sorted(x.shape[1:]) == [321, 481] for x in imgs.values())


def test_missing_shared_set_is_clear(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "shared_data_dir", lambda: None)
    with pytest.raises(DatasetUnavailable, match="shared/data"):
        load_images("mcmaster")


@pytest.mark.parametrize("h, w", [(1, 1), (15, 17), (16, 16), (33, 64)])
def test_pad_and_crop(h, w):
    x = torch.rand(2, 3, h, w)
    y, size = pad_to_multiple(x, 16)
    assert y.shape[-2] % 16 == 0 and y.shape[-1] % 16 == 0 and size == (h, w)
    assert torch.equal(crop(y, size), x)
    assert torch.equal(y[..., -1, -1], x[..., -1, -1])  # replicated edge, not zeros


def test_cifar10_source_gives_32x32_tiles_and_fails_clearly_offline(monkeypatch):
    import types

    import helpers.datasets as data

    fake = types.SimpleNamespace(data=np.random.default_rng(0).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8))
    monkeypatch.setattr(data, "download_cifar10", lambda train=True: fake)
    images = data.load_images("cifar10")
    assert len(images) == 12 and images["cifar10-00003"].shape == (3, 32, 32)
    assert torch.equal(images["cifar10-00000"], torch.from_numpy(fake.data[0]).permute(2, 0, 1).float() / 255)

    def offline(train=True):
        raise data.DatasetUnavailable("CIFAR-10 could not be downloaded")

    monkeypatch.setattr(data, "download_cifar10", offline)
    with pytest.raises(data.DatasetUnavailable, match="could not be downloaded"):
        data.load_images("cifar10-test")


def test_random_patches_are_seeded_crops_and_refuse_small_images():
    from helpers.datasets import random_patches

    imgs = list(default_images("train").values())
    a = random_patches(imgs, 20, 64, torch.Generator().manual_seed(0))
    b = random_patches(imgs, 20, 64, torch.Generator().manual_seed(0))
    assert a.shape == (20, 3, 64, 64) and torch.equal(a, b)  # the generator alone decides the batch
    assert not torch.equal(a[0], a[1])
    x = torch.arange(3 * 8 * 8, dtype=torch.float32).view(3, 8, 8)
    crops = random_patches([x], 64, 8, torch.Generator().manual_seed(1))  # whole image: only the flip varies
    assert {bool(torch.equal(c, x)) for c in crops} == {True, False}
    assert all(torch.equal(c, x) or torch.equal(c, x.flip(-1)) for c in crops)
    with pytest.raises(ValueError, match="smaller than the 64 patch"):
        random_patches([torch.rand(3, 20, 40)], 1, 64, torch.Generator())
