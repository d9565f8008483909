"""Damaged and forged ``.nic`` files through every learned codec's decoder, counted.

Each codec gets ``--n`` files (10,000 by default) made from one real file of it (the golden file of
``tests/golden/``: a 61 x 83 crop), in four equal classes:

* ``random``: random bytes, 0-400 of them, half of them behind a valid magic and version;
* ``truncated``: the real file cut anywhere;
* ``bit flip``: one to eight flipped bits anywhere (the CRC then refuses them);
* ``forged``: a valid CRC over a changed file: payload bytes replaced, inserted or deleted, header fields (sizes,
  latent shape, fingerprint, model id, name) rewritten, an image size of up to 4096 x 4096 claimed with a matching
  latent shape; the CRC recomputed, so the decoder's own checks must catch what the CRC cannot.

Every decode must end in a ``FormatError``, a ``MemoryError`` that names the size, or a finite ``(3, H, W)`` image
in [0, 1] of the size the header claims; anything else (another exception, NaN, a wrong shape) is a failure and is
listed. Results: ``benchmarks/results/fuzz.json`` and ``fuzz.md``, and the README's fuzz block.

    python benchmarks/fuzz.py                 # every shipped family's middle rate point, the overfitted codec and
                                              # the peer, 10,000 each
    python benchmarks/fuzz.py --n 200 --out /tmp/fuzz      # a quick look
    python benchmarks/fuzz.py --codecs overfitted          # one codec again, the others' results kept
"""

from __future__ import annotations

import argparse
import json
import platform
import struct
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from readme_block import write_block  # noqa: E402

from helpers import bitstream as fmt  # noqa: E402
from helpers.codec import list_models, load_model  # noqa: E402
from helpers.models import compressai_available  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
GOLDEN = ROOT / "tests" / "golden"
README_KEY = "fuzz-summary"
CLASSES = ("random", "truncated", "bit flip", "forged")


def _crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def _forge(data: bytes, rng: np.random.Generator) -> bytes:
    """A changed file whose CRC is valid again."""
    body = bytearray(data[:-4])
    name_len = body[5]
    fields = 6 + name_len  # H, W (uint32), C, h, w (uint16), fingerprint, payload length (uint32)
    kind = int(rng.integers(6))
    payload_at = fields + 4 + 4 + 2 + 2 + 2 + 4 + 4
    if kind == 0:  # payload bytes replaced
        for _ in range(int(rng.integers(1, 9))):
            if len(body) > payload_at:
                body[int(rng.integers(payload_at, len(body)))] = int(rng.integers(256))
    elif kind in (1, 2):  # payload bytes inserted or deleted, with the length field kept honest
        at = int(rng.integers(payload_at, len(body) + 1))
        n = int(rng.integers(1, 17))
        body = body[:at] + bytearray(rng.bytes(n)) + body[at:] if kind == 1 else body[:at] + body[at + n :]
        struct.pack_into("<I", body, payload_at - 4, max(0, len(body) - payload_at))
    elif kind == 3:  # a header field rewritten
        offset, size = [
            (fields, 4),
            (fields + 4, 4),
            (fields + 8, 2),
            (fields + 10, 2),
            (fields + 12, 2),
            (fields + 14, 4),
            (4, 1),
        ][int(rng.integers(7))]
        body[offset : offset + size] = rng.bytes(size)
    elif kind == 4:  # a large image claimed, latent shape to match
        h, w = (int(v) for v in rng.integers(64, 4097, 2))
        c, lh, _ = struct.unpack_from("<HHH", body, fields + 8)
        stride = max(1, round(struct.unpack_from("<I", body, fields)[0] / max(lh, 1)))
        struct.pack_into("<IIHHH", body, fields, h, w, c, -(-h // stride), -(-w // stride))
    else:  # another checkpoint name, of any length
        name = rng.bytes(int(rng.integers(1, 256)))
        body = body[:5] + bytearray([len(name)]) + bytearray(name) + body[6 + name_len :]
    return _crc(bytes(body))


def damaged(data: bytes, n: int, seed: int = 0):
    """``n`` damaged or forged versions of ``data``, the four classes in turn: ``(class, bytes)``."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        kind = CLASSES[i % 4]
        if kind == "random":
            junk = rng.bytes(int(rng.integers(0, 400)))
            yield kind, (data[:4] + junk) if i % 8 == 0 else junk
        elif kind == "truncated":
            yield kind, data[: int(rng.integers(0, len(data)))]
        elif kind == "bit flip":
            arr = bytearray(data)
            for _ in range(int(rng.integers(1, 9))):
                arr[int(rng.integers(len(arr)))] ^= 1 << int(rng.integers(8))
            yield kind, bytes(arr)
        else:
            yield kind, _forge(data, rng)


def fuzz(model, data: bytes, n: int, seed: int = 0) -> dict:
    """Decode ``n`` damaged versions of ``data`` with ``model``; counts per class and outcome, failures listed."""
    counts: dict[str, Counter] = {k: Counter() for k in CLASSES}
    failures, slowest = [], 0.0
    for kind, bad in damaged(data, n, seed):
        t0 = time.perf_counter()
        try:
            x = model.decompress(bad)
            header, _ = fmt.unpack(bad)
            ok = (
                torch.isfinite(x).all()
                and x.shape == (3, header.height, header.width)
                and 0 <= float(x.min())
                and float(x.max()) <= 1
            )
            outcome = "image" if ok else "bad image"
        except fmt.FormatError:
            outcome = "FormatError"
        except MemoryError as err:
            outcome = "MemoryError" if "x" in str(err) else "MemoryError without the size"
        except Exception as err:  # anything else is a failure of the decoder
            outcome = f"{type(err).__name__}"
            failures.append({"class": kind, "error": f"{type(err).__name__}: {str(err)[:200]}", "hex": bad[:64].hex()})
        slowest = max(slowest, time.perf_counter() - t0)
        counts[kind][outcome] += 1
        if outcome not in ("image", "FormatError", "MemoryError") and not failures[-1:]:
            failures.append({"class": kind, "error": outcome, "hex": bad[:64].hex()})
    return {
        "files": n,
        "counts": {k: dict(v) for k, v in counts.items()},
        "failures": failures[:20],
        "failed": sum(
            v for c in counts.values() for k, v in c.items() if k not in ("image", "FormatError", "MemoryError")
        ),
        "slowest_s": round(slowest, 3),
    }


def summary(results: dict) -> str:
    rows = [
        "| codec | files | FormatError | MemoryError (size named) | finite image | anything else | slowest decode |",
        "|:--|--:|--:|--:|--:|--:|--:|",
    ]
    for name, r in results["codecs"].items():
        total = Counter()
        for c in r["counts"].values():
            total.update(c)
        rows.append(
            f"| {name} | {r['files']:,} | {total['FormatError']:,} | {total['MemoryError']:,} | "
            f"{total['image']:,} | {r['failed']:,} | {r['slowest_s']:.2f} s |"
        )
    return (
        "Damaged and forged `.nic` files per codec (`python benchmarks/fuzz.py`: random bytes, truncations, bit "
        "flips and files forged with a valid CRC, a quarter each; built from the golden files). Every decode "
        "must end in a `FormatError`, a `MemoryError` that names the size, or a finite image of the claimed "
        "size.\n\n" + "\n".join(rows) + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=10_000, help="files per codec")
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--codecs", nargs="*", default=None, help="only these (the results of the others are kept)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = [n for n in ("factorized-q3", "cae-q3", "generative", "overfitted") if n in list_models()]
    models = {n: load_model(n) for n in names}
    if compressai_available() and (ROOT / "benchmarks/peers/compressai-q3.pt").exists():
        models["compressai-q3"] = load_model(str(ROOT / "benchmarks/peers/compressai-q3.pt"))
    out = Path(args.out)
    earlier = json.loads((out / "fuzz.json").read_text()) if args.codecs and (out / "fuzz.json").exists() else None
    if args.codecs:
        models = {n: m for n, m in models.items() if n in args.codecs}
    results = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}",
        "command": "python benchmarks/fuzz.py " + " ".join(argv or sys.argv[1:]),
        "codecs": dict(earlier["codecs"]) if earlier else {},
    }
    if earlier:
        results["earlier"] = {k: earlier.get(k) for k in ("machine", "command")}
    for name, model in models.items():
        t0 = time.perf_counter()
        results["codecs"][name] = fuzz(model, (GOLDEN / f"{name}.nic").read_bytes(), args.n, args.seed)
        print(
            f"{name}: {args.n} files in {time.perf_counter() - t0:.0f} s, {results['codecs'][name]['failed']} failed",
            flush=True,
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "fuzz.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "fuzz.md").write_text(summary(results))
    if out.resolve() == RESULTS.resolve():
        write_block(ROOT / "README.md", README_KEY, summary(results), "python benchmarks/fuzz.py")
    return 1 if any(r["failed"] for r in results["codecs"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
