"""Entropy coding of integer latents with constriction's ANS coder and per-channel integer tables.

Stream layout (all little-endian)::

    uint32  E                  number of escaped values
    int32   escapes[E]         values outside their channel's table, in channel-major order
    uint32  words[...]         the ANS stack (constriction's compressed words)

Channel ``c`` of a ``(C, N)`` symbol array is coded with the categorical table ``tables.freqs[c]`` (symbol
``offset[c] + k`` has index ``k``; the last index is the escape). ANS is a stack: channels are pushed from last to
first so the decoder pops them in order.
"""

from __future__ import annotations

import struct

import constriction
import numpy as np

from .density import CodingTables

__all__ = ["decode", "encode"]


def _models(tables: CodingTables):
    # integer counts, passed as exact floats: every machine builds the same fixed-point model from them
    return [constriction.stream.model.Categorical(f.astype(np.float64), perfect=False) for f in tables.freqs]


def encode(symbols: np.ndarray, tables: CodingTables) -> bytes:
    """``(C, N)`` integers -> bytes. Any integer is codable: out-of-table values take the escape route."""
    symbols = np.asarray(symbols)
    if symbols.ndim != 2 or symbols.shape[0] != len(tables.freqs):
        raise ValueError(f"expected ({len(tables.freqs)}, N) symbols, got {symbols.shape}")
    if not np.issubdtype(symbols.dtype, np.integer):
        raise ValueError(f"symbols must be integers, got {symbols.dtype}")
    if symbols.size and (symbols.min() < -(2**31) or symbols.max() >= 2**31):
        raise ValueError("symbols must fit in int32")
    symbols = symbols.astype(np.int64)
    coder = constriction.stream.stack.AnsCoder()
    models = _models(tables)
    escapes = []
    indices = []
    for c in range(symbols.shape[0]):
        k = len(tables.freqs[c]) - 1  # escape index
        idx = symbols[c] - int(tables.offsets[c])
        out = (idx < 0) | (idx >= k)
        escapes.append(symbols[c][out])
        idx = np.where(out, k, idx)
        indices.append(idx.astype(np.int32))
    for c in reversed(range(symbols.shape[0])):
        coder.encode_reverse(indices[c], models[c])
    esc = np.concatenate(escapes) if escapes else np.zeros(0, np.int64)
    return join_stream(esc, coder.get_compressed())


def join_stream(escapes: np.ndarray, words: np.ndarray) -> bytes:
    """The stream layout above: escape count, escaped values, ANS words."""
    return struct.pack("<I", len(escapes)) + escapes.astype("<i4").tobytes() + words.astype("<u4").tobytes()


def split_stream(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """:func:`join_stream` undone: ``(escapes as int64, words as uint32)``; a ``ValueError`` if the layout is
    broken."""
    if len(data) < 4:
        raise ValueError("entropy-coded stream is truncated (no escape count)")
    (num_esc,) = struct.unpack_from("<I", data)
    esc_end = 4 + 4 * num_esc
    if esc_end > len(data) or (len(data) - esc_end) % 4:
        raise ValueError("entropy-coded stream is truncated or corrupt (escape block / word alignment)")
    escapes = np.frombuffer(data, dtype="<i4", count=num_esc, offset=4).astype(np.int64)
    return escapes, np.frombuffer(data, dtype="<u4", offset=esc_end).astype(np.uint32)


def decode(data: bytes, tables: CodingTables, n: int) -> np.ndarray:
    """bytes -> ``(C, n)`` int64 symbols. A stream that does not decode exactly raises ``ValueError``."""
    escapes, words = split_stream(data)
    num_esc = len(escapes)
    try:
        coder = constriction.stream.stack.AnsCoder(words)
    except Exception as err:  # constriction rejects e.g. a zero last word
        raise ValueError(f"entropy-coded stream is corrupt: {err}") from err
    models = _models(tables)
    out = np.empty((len(models), n), dtype=np.int64)
    used = 0
    for c, model in enumerate(models):
        k = len(tables.freqs[c]) - 1
        idx = coder.decode(model, n).astype(np.int64)
        is_esc = idx == k
        m = int(is_esc.sum())
        if used + m > num_esc:
            raise ValueError("entropy-coded stream is corrupt: more escapes than stored")
        vals = idx + int(tables.offsets[c])
        vals[is_esc] = escapes[used : used + m]
        used += m
        out[c] = vals
    if used != num_esc or not coder.is_empty():
        raise ValueError("entropy-coded stream is corrupt: it does not end where the symbols do")
    return out
