"""Files written before a change still decode after it.

``tests/golden/`` holds one ``.nic`` file per shipped model (and the CompressAI peer), written on 2026-12-01 by
the code of commit a4341da (the overfitted codec's by the commit that added it, the same day) from a 61x83 crop
of the embedded ``coffee`` photo (odd sides, so padding and cropping are exercised), and the decoded image of
each as a PNG. A refactor may move code anywhere; these bytes
must keep decoding to the same pixels. (Within one build the pixels are exact for any thread count; another torch
build or CPU may round a float sum of the synthesis differently, so one level in under 1 % of the pixels is
allowed. The bitstream itself is exact.)

Regenerate only when the format changes on purpose, with a new version number: ``python tests/test_golden.py``.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.codec import decompress
from helpers.datasets import default_images
from helpers.images import to_uint8

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.nic"))
PEER_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "peers"


def _crop():
    return default_images("test")["coffee"][:, 100:161, 200:283]


def _model_for(name: str):
    """Shipped models by name; the peer by its committed checkpoint (it is not a shipped model)."""
    return str(PEER_DIR / f"{name}.pt") if name.startswith("compressai") else None


@pytest.mark.parametrize("name", CASES)
def test_golden_file_still_decodes_to_the_same_pixels(name):
    if name.startswith("compressai"):
        pytest.importorskip("compressai", reason="the peer needs CompressAI: pip install '.[peers]'")
    data = (GOLDEN / f"{name}.nic").read_bytes()
    got = to_uint8(decompress(data, _model_for(name))).astype(int)
    want = np.asarray(Image.open(GOLDEN / f"{name}.png")).astype(int)
    assert got.shape == want.shape == (61, 83, 3)
    diff = np.abs(got - want)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01, f"{name}: {int((diff > 0).sum())} pixels differ"


def test_every_shipped_model_has_a_golden_file():
    from helpers.codec import list_models

    assert set(list_models()) <= set(CASES)
    meta = json.loads((GOLDEN / "golden.json").read_text())
    assert set(meta["files"]) == set(CASES)


def _write() -> None:
    from helpers.codec import compress, list_models

    x = _crop()
    names = list_models() + sorted(p.stem for p in PEER_DIR.glob("compressai-*.pt"))
    files = {}
    for name in names:
        model = _model_for(name) or name
        options = {"generative": {"bits": 3}, "overfitted": {"quality": 4, "effort": "fast"}}.get(name, {})
        data = compress(x, model, **options)
        (GOLDEN / f"{name}.nic").write_bytes(data)
        Image.fromarray(to_uint8(decompress(data, _model_for(name)))).save(GOLDEN / f"{name}.png")
        files[name] = {"bytes": len(data), "options": options}
    (GOLDEN / "golden.json").write_text(
        json.dumps({"image": "coffee[:, 100:161, 200:283]", "files": files}, indent=1) + "\n"
    )


if __name__ == "__main__":
    _write()
