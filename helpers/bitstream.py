"""The ``.nic`` file format, version 1. Every learned codec of the book writes exactly this.

Layout (little-endian)::

    offset  size  field
    0       3     magic  b"NIC"
    3       1     format version (1)
    4       1     model id (MODEL_IDS; an id is never reused)
    5       1     L, length of the checkpoint name
    6       L     checkpoint name, ASCII (which weights decode this file, e.g. "factorized-q3")
    6+L     4     image height H       uint32
            4     image width W        uint32
            2     latent channels C    uint16
            2     latent height h      uint16
            2     latent width w       uint16
            4     fingerprint          uint32, CRC32 of the entropy model's integer tables
            4     payload length P     uint32
            P     payload              the entropy-coded latent (helpers.entropy.coder); for the
                                       GenerativeCodec one byte of bits per dimension comes first
            4     CRC32 of every byte before it

The CRC catches truncation and bit flips; the fingerprint catches a file decoded with other weights than those
that wrote it; decoders refuse headers that claim more than :data:`MAX_PIXELS` pixels (a decompression bomb)
unless told otherwise. Any violation raises :class:`FormatError`, a ``ValueError``.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from PIL import Image

__all__ = ["FORMAT_VERSION", "MAGIC", "MAX_PIXELS", "MODEL_IDS", "FormatError", "Header", "pack", "unpack"]

MAGIC = b"NIC"
FORMAT_VERSION = 1
#: Architecture ids written into files. Append only: an id, once shipped, keeps its meaning forever.
MODEL_IDS: dict[int, str] = {
    1: "FactorizedPrior",
    2: "ConvAutoencoder",
    3: "GenerativeCodec",
    4: "CompressAIFactorized",
    5: "OverfittedCodec",
}

_FIXED = struct.Struct("<IIHHHII")
#: bytes of the container around the name and the payload: magic, version, model id, name length, the fixed
#: fields, the CRC
HEADER_BYTES = 6 + _FIXED.size + 4
#: Decoders refuse larger images unless told otherwise: Pillow's decompression-bomb limit (about 89 Mpixels).
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485


class FormatError(ValueError):
    """The bytes are not a valid ``.nic`` file for this decoder."""


@dataclass(frozen=True)
class Header:
    model_id: int
    name: str
    height: int
    width: int
    latent_shape: tuple[int, int, int]  # (C, h, w)
    fingerprint: int


def pack(header: Header, payload: bytes) -> bytes:
    name = header.name.encode("ascii")
    if len(name) > 255:
        raise ValueError("checkpoint name longer than 255 bytes")
    if header.model_id not in MODEL_IDS:
        raise ValueError(f"unknown model id {header.model_id}")
    c, h, w = header.latent_shape
    if max(c, h, w) > 0xFFFF:
        raise ValueError(f"latent {header.latent_shape} is too large for this format (65535 per side)")
    body = (
        MAGIC
        + bytes([FORMAT_VERSION, header.model_id, len(name)])
        + name
        + _FIXED.pack(header.height, header.width, c, h, w, header.fingerprint, len(payload))
        + payload
    )
    return body + struct.pack("<I", zlib.crc32(body))


def unpack(data: bytes) -> tuple[Header, bytes]:
    """Check everything that can be checked without the model; return the header and the payload."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < 6 or data[:3] != MAGIC:
        raise FormatError("not a .nic file (bad magic bytes)")
    version, model_id, name_len = data[3], data[4], data[5]
    if version != FORMAT_VERSION:
        raise FormatError(f"unsupported .nic format version {version} (this decoder reads version {FORMAT_VERSION})")
    fixed_at = 6 + name_len
    if len(data) < fixed_at + _FIXED.size + 4:
        raise FormatError(f"file is truncated ({len(data)} bytes, header alone needs {fixed_at + _FIXED.size + 4})")
    (crc,) = struct.unpack_from("<I", data, len(data) - 4)
    if zlib.crc32(data[:-4]) != crc:
        raise FormatError("file is corrupt or truncated (CRC32 mismatch)")
    if model_id not in MODEL_IDS:
        raise FormatError(f"unknown model id {model_id}; this decoder knows {MODEL_IDS}")
    try:
        name = data[6:fixed_at].decode("ascii")
    except UnicodeDecodeError as err:
        raise FormatError("checkpoint name is not ASCII") from err
    height, width, c, h, w, fingerprint, plen = _FIXED.unpack_from(data, fixed_at)
    start = fixed_at + _FIXED.size
    if start + plen + 4 != len(data):
        raise FormatError(f"payload length {plen} does not match the file size {len(data)}")
    if min(height, width, c, h, w) == 0:
        raise FormatError(f"empty image or latent in header ({height}x{width}, latent {c}x{h}x{w})")
    return Header(model_id, name, height, width, (c, h, w), fingerprint), data[start : start + plen]
