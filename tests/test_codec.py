"""The learned codec end to end: real bytes, the file format, bad files, the API and the command line."""

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import torch
from conftest import damaged_files
from PIL import Image

from helpers import bitstream as fmt
from helpers import checkpoints
from helpers.codec import FormatError, api
from helpers.images import crop, pad_to_multiple
from helpers.metrics import bpp


@pytest.fixture(scope="module")
def model(tiny_checkpoint):
    return checkpoints.load(tiny_checkpoint)


def test_decoder_output_equals_what_the_encoder_measured(model, photo):
    data = model.compress(photo)
    x_hat = model.decompress(data)
    x_pad, size = pad_to_multiple(photo[None], model.stride)
    with torch.no_grad():
        expected = crop(model(x_pad).x_hat, size)[0].clamp(0, 1)
    assert x_hat.shape == photo.shape
    assert torch.allclose(x_hat, expected, atol=1e-6)


def test_reconstruct_is_the_codec_without_the_bytes(model, photo):
    assert torch.equal(model.reconstruct(photo), model.decompress(model.compress(photo)))
    continuous = model.reconstruct(photo, rounded=False)
    assert continuous.shape == photo.shape and not torch.equal(continuous, model.reconstruct(photo))


def test_file_is_deterministic_and_sized_by_its_bytes(model, photo):
    a, b = model.compress(photo), model.compress(photo)
    assert a == b
    assert 0 < bpp(len(a), 100, 130) < 24


@pytest.mark.parametrize("h, w", [(1, 1), (15, 17), (16, 16), (3, 200)])
def test_any_size(model, h, w):
    x = torch.rand(3, h, w, generator=torch.Generator().manual_seed(h + w))
    assert model.decompress(model.compress(x)).shape == (3, h, w)


def test_header_roundtrip():
    header = fmt.Header(1, "factorized-q3", 321, 481, (128, 21, 31), 0xDEADBEEF)
    data = fmt.pack(header, b"payload")
    assert data[:3] == b"NIC" and data[3] == fmt.FORMAT_VERSION
    back, payload = fmt.unpack(data)
    assert back == header and payload == b"payload"


def _recrc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_bad_files_raise_format_errors(model, photo):
    data = model.compress(photo)
    body = data[:-4]
    cases = {
        "empty": b"",
        "magic": b"PNG" + data[3:],
        "version": _recrc(body[:3] + bytes([9]) + body[4:]),
        "model id": _recrc(body[:4] + bytes([200]) + body[5:]),
        "truncated": data[: len(data) // 2],
        "bit flip": data[:20] + bytes([data[20] ^ 0x10]) + data[21:],
        "extra byte": data + b"\0",
    }
    for what, bad in cases.items():
        with pytest.raises(FormatError):
            model.decompress(bad)
            pytest.fail(f"the {what} file decoded")


def test_files_from_other_weights_or_architectures_are_refused(model, photo):
    data = model.compress(photo)
    torch.manual_seed(5)
    from helpers.models import ConvAutoencoder, FactorizedPrior

    retrained = FactorizedPrior(**model.config)  # same architecture, other weights
    with pytest.raises(FormatError, match="other weights"):
        retrained.decompress(data)
    with pytest.raises(FormatError, match="FactorizedPrior"):
        ConvAutoencoder(channels=16, latent_channels=24).decompress(data)


def test_random_and_mutated_files_never_crash(model, photo):
    for bad in damaged_files(model.compress(photo), 1200):
        with pytest.raises(ValueError):
            model.decompress(bad)


def test_files_with_a_valid_crc_but_forged_contents_fail_cleanly(model, photo):
    """Past the CRC (recomputed after each mutation): the header checks and the ANS decoder must still answer
    with a ValueError or a well-formed image of the header's size, never another exception or a hang."""
    data = model.compress(photo)
    body = bytearray(data[:-4])
    rng = np.random.default_rng(1)
    outcomes = {"error": 0, "image": 0}
    for _ in range(1000):
        arr = bytearray(body)
        for _ in range(int(rng.integers(1, 4))):
            arr[int(rng.integers(3, len(arr)))] ^= 1 << int(rng.integers(0, 8))  # magic stays: deeper checks
        try:
            x_hat = model.decompress(_recrc(bytes(arr)))
        except ValueError:
            outcomes["error"] += 1
            continue
        header, _ = fmt.unpack(_recrc(bytes(arr)))
        assert x_hat.shape == (3, header.height, header.width) and 0 <= x_hat.min() and x_hat.max() <= 1
        outcomes["image"] += 1
    assert outcomes["error"] > 500  # most forgeries are caught by the header, fingerprint or stream checks


def test_decompression_bombs_are_refused_before_allocating(model, photo):
    header, payload = fmt.unpack(model.compress(photo))
    side = 60000
    bomb = fmt.pack(
        fmt.Header(
            header.model_id, header.name, side * 16, side * 16, (header.latent_shape[0], side, side), header.fingerprint
        ),
        payload,
    )
    with pytest.raises(FormatError, match="max_pixels"):
        model.decompress(bomb)
    with pytest.raises(FormatError, match="max_pixels"):
        api.decompress(bomb, model)
    small = fmt.pack(
        fmt.Header(header.model_id, header.name, 100, 130, header.latent_shape, header.fingerprint), payload
    )
    with pytest.raises(FormatError, match="max_pixels"):
        model.decompress(small, max_pixels=100 * 129)
    assert model.decompress(small, max_pixels=100 * 130).shape == (3, 100, 130)


def test_api_with_a_model_object_and_with_paths(model, photo, tmp_path):
    data = api.compress(photo, model)
    assert torch.equal(api.decompress(data, model), model.decompress(data))
    src = tmp_path / "in.png"
    Image.fromarray((photo.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).convert("LA").save(src)
    data = api.compress(src, model)  # a grey+alpha PNG goes through the documented conversion
    assert model.decompress(data).shape == photo.shape
    with pytest.raises(FormatError, match="not a shipped model"):
        api.decompress(data)  # the file names checkpoint "tiny-fp", which is not shipped


def _nic(*args):
    return subprocess.run([sys.executable, "-m", "helpers.codec", *map(str, args)], capture_output=True, text=True)


def test_cli_encode_decode_list(tiny_checkpoint, photo, tmp_path):
    src, nic, out = tmp_path / "photo.png", tmp_path / "photo.nic", tmp_path / "back.png"
    Image.fromarray((photo.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(src)
    r = _nic("encode", src, nic, "--model", tiny_checkpoint)
    assert r.returncode == 0, r.stderr
    assert f"{nic.stat().st_size} bytes" in r.stdout
    r = _nic("decode", nic, out, "--model", tiny_checkpoint)
    assert r.returncode == 0, r.stderr
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size == (130, 100)
    expected = checkpoints.load(tiny_checkpoint).decompress(nic.read_bytes())
    np.testing.assert_array_equal(np.asarray(Image.open(out)), (expected.permute(1, 2, 0).numpy() * 255).round())
    r = _nic("list")
    assert r.returncode == 0 and r.stdout.split() == checkpoints.available() + sorted(checkpoints.BUILTIN)


def test_cli_errors_are_messages_not_tracebacks(tiny_checkpoint, tmp_path):
    junk = tmp_path / "junk.nic"
    junk.write_bytes(b"NIC\x01garbage")
    r = _nic("decode", junk, tmp_path / "x.png", "--model", tiny_checkpoint)
    assert r.returncode == 2 and "bad file" in r.stderr and "Traceback" not in r.stderr
    r = _nic("encode", tmp_path / "missing.png", tmp_path / "x.nic", "--model", tiny_checkpoint)
    assert r.returncode == 2 and "no image file" in r.stderr
    r = _nic("encode", junk, tmp_path / "x.nic", "--model", tmp_path / "nope.pt")
    assert r.returncode == 2 and "no checkpoint" in r.stderr


def test_running_out_of_memory_is_a_clear_memory_error(model, photo, monkeypatch):
    data = model.compress(photo)

    def no_memory(*args):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(model, "analysis", no_memory)
    with pytest.raises(MemoryError, match="130x100 image needs more memory"):
        model.compress(photo)
    monkeypatch.setattr(model, "synthesis", no_memory)
    with pytest.raises(MemoryError, match="more memory"):
        model.decompress(data)

    def a_bug(*args):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(model, "analysis", a_bug)
    with pytest.raises(RuntimeError, match="shape mismatch"):  # other errors are not disguised
        model.compress(photo)


@pytest.mark.parametrize("name", ["factorized-q1", "cae-q1"])
def test_a_valid_file_with_an_extreme_latent_is_refused_or_finite(name, photo):
    """A forged file with a valid CRC and an escape value of 10**6 in its latent decoded to NaN pixels (written
    as black, exit 0): it must end as a FormatError or a finite image in [0, 1]."""
    from helpers.codec import list_models, load_model
    from helpers.entropy import encode

    if name not in list_models():
        pytest.skip(f"needs the shipped {name}")
    model = load_model(name)
    header, _ = fmt.unpack(model.compress(photo))
    c, lh, lw = header.latent_shape
    for value in (10**6, -(10**6), 2**31 - 1):
        symbols = np.zeros((c, lh * lw), np.int64)
        symbols[:, :3] = value
        forged = fmt.pack(header, encode(symbols, model.density.tables()))
        try:
            x = model.decompress(forged)
        except FormatError as err:
            assert "non-finite" in str(err) or "does not decode" in str(err)
            continue
        assert torch.isfinite(x).all() and 0 <= x.min() and x.max() <= 1


def test_the_memory_a_file_needs_is_checked_before_anything_is_allocated(model, photo):
    """A small file may claim a huge image (9000 x 9000 under the pixel limit decoded for minutes, then died in
    the allocator): the decoder compares its estimate with the memory there is and refuses at once."""
    import time

    data = model.compress(photo)
    header, payload = fmt.unpack(data)
    big = fmt.Header(header.model_id, header.name, 9000, 9000, (header.latent_shape[0], 563, 563), header.fingerprint)
    forged = fmt.pack(big, payload)
    t0 = time.perf_counter()
    with pytest.raises(MemoryError, match="9000x9000 image needs about"):
        model.decompress(forged, max_memory=2**30)
    assert time.perf_counter() - t0 < 1.0
    assert model.decode_bytes(9000, 9000) > 2**30 > model.decode_bytes(100, 130)


def test_decoded_pixels_are_the_same_for_any_thread_count_and_in_another_process(photo, tmp_path):
    """The factorized prior's pixels differed by one level in a few pixels between 1 and 2 threads; the synthesis
    now runs on one thread whatever the caller set, so the pixels, not only the bitstream, are reproducible."""
    import hashlib
    import subprocess
    import sys

    from helpers.codec import compress, decompress, list_models

    names = [n for n in ("factorized-q3", "cae-q3", "generative") if n in list_models()]
    if not names:
        pytest.skip("needs the shipped checkpoints")
    before = torch.get_num_threads()
    try:
        for name in names:
            data = compress(photo, name)
            (tmp_path / f"{name}.nic").write_bytes(data)
            decoded = []
            for threads in (1, 2):
                torch.set_num_threads(threads)
                decoded.append(decompress(data))
            assert torch.equal(decoded[0], decoded[1]), name
            assert torch.get_num_threads() == 2  # the caller's setting is restored
            code = (
                "import hashlib, sys, torch; torch.set_num_threads(2); from helpers.codec import decompress; "
                "print(hashlib.sha256(decompress(open(sys.argv[1], 'rb').read()).numpy().tobytes()).hexdigest())"
            )
            other = subprocess.run(
                [sys.executable, "-c", code, str(tmp_path / f"{name}.nic")], capture_output=True, text=True, check=True
            ).stdout.strip()
            assert other == hashlib.sha256(decoded[0].numpy().tobytes()).hexdigest(), name
    finally:
        torch.set_num_threads(before)
