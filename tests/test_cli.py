"""The `nic` command on bad input: every case ends with exit status 2, one line on stderr that names the path, no
traceback, and no file left behind (nor an existing one touched)."""

import io

import numpy as np
import pytest
from PIL import Image

from helpers import bitstream as fmt
from helpers.codec import compress, list_models
from helpers.codec.cli import main
from helpers.images import load_image, to_pil

pytestmark = pytest.mark.skipif("factorized-q1" not in list_models(), reason="needs the shipped checkpoints")


@pytest.fixture
def folder(tmp_path, photo):
    to_pil(photo).save(tmp_path / "in.png")
    (tmp_path / "in.nic").write_bytes(compress(photo, "factorized-q1"))
    (tmp_path / "notes.txt").write_text("not an image")
    png = (tmp_path / "in.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(png[: len(png) // 2])
    return tmp_path


def _forged_name(data: bytes, name: bytes) -> bytes:
    """The same file with another checkpoint name in its header, CRC recomputed: valid, but naming a path."""
    header, payload = fmt.unpack(data)
    h = fmt.Header(header.model_id, "x", header.height, header.width, header.latent_shape, header.fingerprint)
    packed = fmt.pack(h, payload)
    body = packed[:5] + bytes([len(name)]) + name + packed[7:-4]
    import zlib

    return body + zlib.crc32(body).to_bytes(4, "little")


BAD = {
    "encode onto its input": (["encode", "in.png", "in.png"], "overwrite the input"),
    "decode onto its input": (["decode", "in.nic", "in.nic"], "overwrite the input"),
    "missing input": (["encode", "none.png", "out.nic"], "none.png"),
    "not an image": (["encode", "notes.txt", "out.nic"], "not an image"),
    "truncated image": (["encode", "cut.png", "out.nic"], "cut.png"),
    "not a nic file": (["decode", "notes.txt", "out.png"], "bad file"),
    "output named .jpg": (["decode", "in.nic", "out.jpg"], "writes PNG"),
    "output is a folder": (["decode", "in.nic", "."], "is a folder"),
    "bits 0": (["encode", "in.png", "out.nic", "--model", "generative", "--bits", "0"], "from 1 to 8"),
    "bits, model without": (["encode", "in.png", "out.nic", "--model", "factorized-q1", "--bits", "2"], "no option"),
    "unknown model": (["encode", "in.png", "out.nic", "--model", "factorized-q9"], "factorized-q9"),
    "image over the limit": (["encode", "in.png", "out.nic", "--max-pixels", "100"], "more than 100 pixels"),
    "file over the limit": (["decode", "in.nic", "out.png", "--max-pixels", "100"], "max_pixels=100"),
    "a file that names a path": (["decode", "forged.nic", "out.png"], "not a shipped model"),
    "a 255-byte name": (["decode", "long.nic", "out.png"], "not a shipped model"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_input_gets_one_line_and_leaves_nothing(case, folder, capsys, monkeypatch):
    data = (folder / "in.nic").read_bytes()
    (folder / "forged.nic").write_bytes(_forged_name(data, b"../../helpers/weights/cae-q1.pt"))
    (folder / "long.nic").write_bytes(_forged_name(data, b"a" * 255))
    monkeypatch.chdir(folder)
    argv, message = BAD[case]
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nic: ") and message in err, err
    assert "Traceback" not in err
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert after == before  # nothing written, nothing overwritten, no temporary file left


def test_a_failed_write_leaves_no_part_file_and_keeps_the_old_output(folder, capsys, monkeypatch):
    monkeypatch.chdir(folder)
    (folder / "out.png").write_bytes(b"the previous output")

    def broken_save(self, fp, *args, **kwargs):
        with open(fp, "wb") as f:
            f.write(b"half a png")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    assert main(["decode", "in.nic", "out.png"]) == 2
    assert "disk full" in capsys.readouterr().err
    assert (folder / "out.png").read_bytes() == b"the previous output"
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []


def test_the_limit_can_be_lifted_and_good_files_round_trip(folder, capsys, monkeypatch):
    monkeypatch.chdir(folder)
    assert main(["encode", "in.png", "out.nic", "--max-pixels", "20000"]) == 0
    assert main(["decode", "out.nic", "out.png"]) == 0
    assert Image.open(folder / "out.png").size == (130, 100)


def test_exif_orientation_is_applied_and_extra_frames_are_named(tmp_path, capsys, monkeypatch):
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 96, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to display
    img.save(tmp_path / "phone.jpg", exif=exif)
    assert load_image(tmp_path / "phone.jpg").shape == (3, 96, 48)  # as the photo is shown, not as stored
    frames = [Image.new("RGB", (40, 30), c) for c in ("red", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    (tmp_path / "anim.gif").write_bytes(buf.getvalue())
    monkeypatch.chdir(tmp_path)
    assert main(["encode", "anim.gif", "anim.nic"]) == 0
    assert "has 2 frames; coding the first" in capsys.readouterr().err
