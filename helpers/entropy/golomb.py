"""Signed exponential-Golomb codes: how an overfitted codec writes its few thousand network weights.

A weight ``v`` (an integer: the weight divided by its quantization step) is mapped to ``u = 2v`` (``v >= 0``) or
``-2v - 1`` (``v < 0``); ``u`` in order-``k`` exp-Golomb is ``q = u + 2**k`` written as ``n - k - 1`` zeros and the
``n`` bits of ``q`` (``n = bit_length(q)``). Small magnitudes cost few bits and no table is sent: for
Laplace-like weights it is within a few percent of the entropy, and the encoder picks ``k`` per tensor.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BitReader", "BitWriter", "best_order", "golomb_bits", "read_signed", "write_signed"]

MAX_ORDER = 31
_MAX_BITS = 40  # longest codeword a reader accepts: anything longer is a damaged stream, not a weight


def _unsigned(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.int64)
    return np.where(v >= 0, 2 * v, -2 * v - 1)


def golomb_bits(values: np.ndarray, k: int) -> int:
    """Length in bits of ``values`` in order-``k`` signed exp-Golomb."""
    q = _unsigned(values) + (1 << k)
    n = np.floor(np.log2(q.astype(np.float64))).astype(np.int64) + 1  # exact: q < 2**50
    return int((2 * n - k - 1).sum())


def best_order(values: np.ndarray) -> int:
    """The order ``k`` that writes ``values`` in the fewest bits."""
    return min(range(16), key=lambda k: golomb_bits(values, k))


class BitWriter:
    def __init__(self):
        self._bits: list[str] = []

    def write(self, value: int, n: int) -> None:
        if n:
            self._bits.append(format(value, f"0{n}b"))

    def getvalue(self) -> bytes:
        bits = "".join(self._bits)
        bits += "0" * (-len(bits) % 8)
        return int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""


class BitReader:
    def __init__(self, data: bytes):
        self._bits = "".join(format(b, "08b") for b in data)
        self._pos = 0

    def read(self, n: int) -> int:
        if self._pos + n > len(self._bits):
            raise ValueError("weight stream is truncated")
        value = int(self._bits[self._pos : self._pos + n] or "0", 2)
        self._pos += n
        return value

    def leading_zeros(self) -> int:
        end = self._bits.find("1", self._pos, self._pos + _MAX_BITS)
        if end < 0:
            raise ValueError("weight stream is corrupt (a codeword longer than any weight)")
        n, self._pos = end - self._pos, end
        return n

    def remaining(self) -> int:
        return len(self._bits) - self._pos


def write_signed(writer: BitWriter, values: np.ndarray, k: int) -> None:
    for u in _unsigned(values).tolist():
        q = u + (1 << k)
        n = q.bit_length()
        writer.write(0, n - k - 1)
        writer.write(q, n)


def read_signed(reader: BitReader, count: int, k: int) -> np.ndarray:
    out = np.empty(count, dtype=np.int64)
    for i in range(count):
        zeros = reader.leading_zeros()
        u = reader.read(zeros + k + 1) - (1 << k)
        out[i] = u // 2 if u % 2 == 0 else -(u + 1) // 2
    return out
