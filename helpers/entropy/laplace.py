"""Integer tables of the discretized Laplace distribution, and an ANS coder that picks a table per symbol.

An autoregressive entropy model predicts a mean ``mu`` and a scale ``b`` for every latent value. The decoder must
build exactly the probabilities the encoder used, or the stream desynchronizes. So neither side codes with float
parameters: ``mu`` is rounded to eighths and ``b`` to a grid of sixth-octave steps (by integer arithmetic in the
model, see :mod:`helpers.models.overfitted`), and each (mean offset, scale) pair names one of
``MEAN_STEPS x SCALES`` fixed integer tables built here.

The tables are computed with Python's :mod:`decimal` (software arithmetic whose ``exp`` and ``ln`` are correctly
rounded, the same on every platform and Python version) at 40 digits, then rounded to integer counts. No float
library function is involved, so every machine derives the same integers; their CRC32 is the codec's fingerprint.

Table ``(f, s)`` is the Laplace law of mean ``f / MEAN_STEPS`` and scale ``b_s = B_MIN * 2 ** (s / 6)``,
discretized on unit bins: the mass of integer ``d`` is ``F(d + 1/2) - F(d - 1/2)``. It covers ``d`` in
``-RANGE .. RANGE`` (index ``d + RANGE``); the last index is an escape whose value is stored raw. Every index has a
count of at least 1, so any integer can be coded.

Stream layout (little-endian)::

    uint32  E            escaped values
    int32   escapes[E]   in decoding order
    uint32  words[...]   constriction's ANS stack
"""

from __future__ import annotations

import functools
import itertools
import struct
import zlib
from decimal import Decimal, localcontext

import constriction
import numpy as np

from .coder import join_stream, split_stream

__all__ = [
    "B_MIN",
    "MEAN_STEPS",
    "RANGE",
    "SCALES",
    "IndexedDecoder",
    "encode_indexed",
    "laplace_tables",
    "scale_of",
    "tables_fingerprint",
]

MEAN_STEPS = 8  # means are coded to 1/8
SCALES = 64  # scale index s: b = B_MIN * 2 ** (s / 6), from 0.02 to about 29
B_MIN = 0.02
RANGE = 63  # symbols -RANGE .. RANGE relative to the integer part of the mean, then the escape
TOTAL = 1 << 24  # counts of a table sum to at most this (constriction's default precision)
_CHUNK = 1 << 16  # symbols per call to the coder (bounds the memory of the per-symbol probability rows)


def scale_of(s):
    """The Laplace scale of scale index ``s`` (float, for training and figures)."""
    return B_MIN * 2.0 ** (np.asarray(s) / 6.0)


def _table(f: int, s: int) -> list[int]:
    with localcontext() as ctx:
        ctx.prec = 40
        b = Decimal(B_MIN) * (Decimal(2).ln() * s / 6).exp()
        mean = Decimal(f) / MEAN_STEPS

        # the bin edges x = d - mean - 1/2 step by 1, so exp(-|x| / b) steps by the ratio r = exp(-1 / b) on each
        # side of 0: two exps per side, then products (the same correctly rounded operations on every machine)
        r = (-1 / b).exp()
        xs = [Decimal(d) - mean - Decimal("0.5") for d in range(-RANGE, RANGE + 2)]
        first_pos = next(i for i, x in enumerate(xs) if x >= 0)
        tails = [Decimal(0)] * len(xs)
        tails[first_pos - 1] = (xs[first_pos - 1] / b).exp()
        for i in range(first_pos - 2, -1, -1):
            tails[i] = tails[i + 1] * r
        tails[first_pos] = (-xs[first_pos] / b).exp()
        for i in range(first_pos + 1, len(xs)):
            tails[i] = tails[i - 1] * r
        edges = [t / 2 if i < first_pos else 1 - t / 2 for i, t in enumerate(tails)]
        mass = [hi - lo for lo, hi in itertools.pairwise(edges)]
        escape = 1 - (edges[-1] - edges[0])
        scale = TOTAL - len(mass) - 1  # room for the floor of 1 per index
        return [1 + int(m * scale) for m in mass] + [1 + int(escape * scale)]


@functools.lru_cache(maxsize=1)
def laplace_tables() -> np.ndarray:
    """``(MEAN_STEPS * SCALES, 2 * RANGE + 2)`` float64 array of integer counts; row ``f * SCALES + s``.

    Built once per process (a tenth of a second), read-only."""
    rows = np.array([_table(f, s) for f in range(MEAN_STEPS) for s in range(SCALES)], dtype=np.float64)
    rows.flags.writeable = False
    return rows


def tables_fingerprint() -> int:
    """CRC32 of the tables' integer counts and their layout constants."""
    layout = struct.pack("<IIdII", MEAN_STEPS, SCALES, B_MIN, RANGE, TOTAL)
    return zlib.crc32(laplace_tables().astype("<u4").tobytes(), zlib.crc32(layout))


_FAMILY = None


def _family():
    global _FAMILY
    if _FAMILY is None:
        _FAMILY = constriction.stream.model.Categorical(perfect=False)
    return _FAMILY


def encode_indexed(symbols: np.ndarray, table_ids: np.ndarray) -> bytes:
    """``symbols[i]`` (any integers, in decoding order) coded with table ``table_ids[i]``."""
    symbols = np.asarray(symbols, dtype=np.int64).ravel()
    table_ids = np.asarray(table_ids, dtype=np.int64).ravel()
    if symbols.shape != table_ids.shape:
        raise ValueError(f"{symbols.size} symbols but {table_ids.size} table ids")
    if table_ids.size and (table_ids.min() < 0 or table_ids.max() >= MEAN_STEPS * SCALES):
        raise ValueError("table ids out of range")
    if symbols.size and (symbols.min() < -(2**31) or symbols.max() >= 2**31):
        raise ValueError("symbols must fit in int32")
    tables = laplace_tables()
    idx = symbols + RANGE
    escaped = (idx < 0) | (idx > 2 * RANGE)
    idx = np.where(escaped, 2 * RANGE + 1, idx).astype(np.int32)
    coder = constriction.stream.stack.AnsCoder()
    # ANS is a stack: the last chunk goes in first, each chunk reversed, so the decoder reads in order
    for start in reversed(range(0, symbols.size, _CHUNK)):
        sl = slice(start, start + _CHUNK)
        coder.encode_reverse(idx[sl], _family(), tables[table_ids[sl]])
    return join_stream(symbols[escaped], coder.get_compressed())


class IndexedDecoder:
    """Reads a stream of :func:`encode_indexed` in pieces: ``decode(table_ids)`` returns the next
    ``len(table_ids)`` symbols; ``finish()`` checks that the stream ended exactly there. Every inconsistency is a
    ``ValueError``."""

    def __init__(self, data: bytes):
        self._escapes, words = split_stream(bytes(data))
        self._used = 0
        try:
            self._coder = constriction.stream.stack.AnsCoder(words)
        except Exception as err:  # constriction refuses e.g. a zero last word
            raise ValueError(f"entropy-coded stream is corrupt: {err}") from err
        self._tables = laplace_tables()

    def decode(self, table_ids: np.ndarray) -> np.ndarray:
        table_ids = np.asarray(table_ids, dtype=np.int64)
        idx = self._coder.decode(_family(), self._tables[table_ids]).astype(np.int64)
        out = idx - RANGE
        esc = idx == 2 * RANGE + 1
        n = int(esc.sum())
        if n:
            if self._used + n > self._escapes.size:
                raise ValueError("entropy-coded stream is corrupt: more escapes than stored")
            out[esc] = self._escapes[self._used : self._used + n]
            self._used += n
        return out

    def finish(self) -> None:
        if self._used != self._escapes.size or not self._coder.is_empty():
            raise ValueError("entropy-coded stream is corrupt: it does not end where the symbols do")
