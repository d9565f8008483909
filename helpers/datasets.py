"""Image sets: the embedded photos (offline, inside installed wheels), folders, the project's shared evaluation
sets, optional downloads (Kodak, CIFAR-10), and random training patches. One image at a time is
:mod:`helpers.images`."""

from __future__ import annotations

import functools
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .images import IMAGE_EXTENSIONS, load_image, to_tensor

__all__ = [
    "EMBEDDED",
    "TEST_NAMES",
    "TRAIN_NAMES",
    "DatasetUnavailable",
    "default_images",
    "download_cifar10",
    "download_kodak",
    "load_folder",
    "load_images",
    "random_patches",
    "shared_data_dir",
]

CACHE_DIR = Path(os.environ.get("NIC_CACHE", Path.home() / ".cache" / "nic-book"))


class DatasetUnavailable(RuntimeError):
    """An optional data set could not be fetched (usually: no network)."""


# --------------------------------------------------------------------------------------------------------------
# The embedded default set: photos that ship inside scikit-image, scikit-learn and matplotlib wheels
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmbeddedImage:
    name: str
    source: str  # where the file ships, so a reader can find it
    lossless: bool  # False when the shipped file is itself a JPEG (it carries JPEG artefacts)
    load: Callable[[], np.ndarray]


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load():
        import skimage.data

        out = getattr(skimage.data, name)()
        return out[0] if isinstance(out, tuple) else out  # stereo_motorcycle -> left view

    return load


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    def load():
        from sklearn.datasets import load_sample_image

        return load_sample_image(name)

    return load


def _matplotlib(name: str) -> Callable[[], np.ndarray]:
    def load():
        import matplotlib.cbook

        with Image.open(matplotlib.cbook.get_sample_data(name, asfileobj=False)) as img:
            return np.asarray(img.convert("RGB"))

    return load


EMBEDDED: dict[str, EmbeddedImage] = {
    e.name: e
    for e in [
        EmbeddedImage("astronaut", "scikit-image: skimage.data.astronaut()", True, _skimage("astronaut")),
        EmbeddedImage("coffee", "scikit-image: skimage.data.coffee()", True, _skimage("coffee")),
        EmbeddedImage(
            "motorcycle", "scikit-image: skimage.data.stereo_motorcycle()[0]", True, _skimage("stereo_motorcycle")
        ),
        EmbeddedImage("chelsea", "scikit-image: skimage.data.chelsea()", True, _skimage("chelsea")),
        EmbeddedImage("rocket", "scikit-image: skimage.data.rocket()", False, _skimage("rocket")),
        EmbeddedImage("china", "scikit-learn: load_sample_image('china.jpg')", False, _sklearn("china.jpg")),
        EmbeddedImage("flower", "scikit-learn: load_sample_image('flower.jpg')", False, _sklearn("flower.jpg")),
        EmbeddedImage(
            "grace_hopper",
            "matplotlib: cbook.get_sample_data('grace_hopper.jpg')",
            False,
            _matplotlib("grace_hopper.jpg"),
        ),
    ]
}
#: Held-out images: the three that ship losslessly, so codecs are not judged on another codec's artefacts.
TEST_NAMES: tuple[str, ...] = ("astronaut", "coffee", "motorcycle")
#: Training images: the rest (four of them are JPEG files; fine for learning, not for measuring).
TRAIN_NAMES: tuple[str, ...] = tuple(n for n in EMBEDDED if n not in TEST_NAMES)


@functools.cache
def _embedded(name: str) -> torch.Tensor:
    return to_tensor(EMBEDDED[name].load())


def default_images(split: str = "test") -> dict[str, torch.Tensor]:
    """The embedded photos: ``split`` is ``"test"`` (3 images), ``"train"`` (5) or ``"all"`` (8)."""
    names = {"test": TEST_NAMES, "train": TRAIN_NAMES, "all": tuple(EMBEDDED)}.get(split)
    if names is None:
        raise ValueError(f"split must be 'test', 'train' or 'all', got {split!r}")
    return {n: _embedded(n).clone() for n in names}


# --------------------------------------------------------------------------------------------------------------
# Folders, the shared evaluation sets and optional downloads
# --------------------------------------------------------------------------------------------------------------


def load_folder(path: str | os.PathLike, extensions: tuple[str, ...] = IMAGE_EXTENSIONS) -> dict[str, torch.Tensor]:
    """Every image file directly inside ``path``, sorted by name: ``{file stem: (3, H, W) tensor}``."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"no folder at {root}")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in extensions)
    if not files:
        raise ValueError(f"no image files ({', '.join(extensions)}) in {root}")
    return {p.stem: load_image(p) for p in files}


def shared_data_dir(root: str | os.PathLike | None = None) -> Path | None:
    """The project's photo sets (``cbsd68``, ``mcmaster``, ...), if they are here; ``None`` if not.

    Looked up in ``root`` when given, else in ``$NIC_SHARED_DATA``, else in ``../shared/data`` from the working
    directory and from its parent (a checkout's root, or its ``book/`` folder, beside the project's ``shared/``).
    The package never looks beside its own files: installed, they sit in site-packages. The book never needs these
    sets; tests and benchmarks skip without them.
    """
    if root is not None:
        return Path(root) if Path(root).is_dir() else None
    candidates = [Path(os.environ["NIC_SHARED_DATA"])] if os.environ.get("NIC_SHARED_DATA") else []
    candidates += [Path.cwd().parent / "shared" / "data", Path.cwd().parent.parent / "shared" / "data"]
    return next((p for p in candidates if p.is_dir()), None)


def load_images(source: str = "default") -> dict[str, torch.Tensor]:
    """Named image sets for chapters and benchmarks.

    ``"default"`` / ``"default-test"``: the embedded held-out photos; ``"default-train"``, ``"default-all"``;
    ``"cbsd68"``, ``"mcmaster"``: the shared evaluation sets (error if absent); ``"kodak"``: the Kodak set
    (downloaded once when online); ``"cifar10"`` / ``"cifar10-test"``: the first 10,000 32x32 images of
    CIFAR-10's training / test split (downloaded once when online; tiles for the generative codec); anything else
    is read as a folder path (e.g. CelebA's aligned faces, extracted).
    """
    if source in ("default", "default-test"):
        return default_images("test")
    if source.startswith("default-"):
        return default_images(source.removeprefix("default-"))
    if source in ("cbsd68", "mcmaster"):
        root = shared_data_dir()
        if root is None or not (root / source).is_dir():
            raise DatasetUnavailable(
                f"the {source!r} set lives in ../shared/data/{source} beside a checkout of the project; "
                "it is not here. Point NIC_SHARED_DATA at a folder that holds it, or pass a folder path."
            )
        return load_folder(root / source)
    if source == "kodak":
        return load_folder(download_kodak())
    if source in ("cifar10", "cifar10-test"):
        data = download_cifar10(train=source == "cifar10").data[:CIFAR10_IMAGES]  # (N, 32, 32, 3) uint8
        return {f"{source}-{i:05d}": torch.from_numpy(a).permute(2, 0, 1).float() / 255 for i, a in enumerate(data)}
    return load_folder(source)


CIFAR10_IMAGES = 10_000


def _fetch(url: str, dest: Path, timeout: float = 20.0) -> None:
    tmp = dest.with_suffix(dest.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
            f.write(r.read())
    except (urllib.error.URLError, OSError) as err:
        tmp.unlink(missing_ok=True)
        raise DatasetUnavailable(
            f"could not download {url} ({err}). This needs the network; offline, use the embedded default set "
            "(load_images('default')) or a folder of your own (load_images('/path/to/photos'))."
        ) from err
    tmp.replace(dest)


KODAK_URL = "https://r0k.us/graphics/kodak/kodak/kodim{:02d}.png"


def download_kodak(root: str | os.PathLike | None = None) -> Path:
    """The 24 Kodak photos (768x512), fetched once into ``root`` (default ``~/.cache/nic-book/kodak``)."""
    root = Path(root) if root is not None else CACHE_DIR / "kodak"
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1, 25):
        dest = root / f"kodim{i:02d}.png"
        if not dest.exists():
            _fetch(KODAK_URL.format(i), dest)
    return root


def download_cifar10(root: str | os.PathLike | None = None, train: bool = True):
    """CIFAR-10 through torchvision (downloaded once, 170 MB); a clear error when offline."""
    from torchvision.datasets import CIFAR10

    root = Path(root) if root is not None else CACHE_DIR / "cifar10"
    try:
        return CIFAR10(str(root), train=train, download=True)
    except (urllib.error.URLError, OSError, RuntimeError) as err:
        raise DatasetUnavailable(
            f"CIFAR-10 could not be downloaded into {root} ({err}). This needs the network; offline, use the "
            "embedded default set or a folder of your own."
        ) from err


# --------------------------------------------------------------------------------------------------------------
# Training patches
# --------------------------------------------------------------------------------------------------------------


def random_patches(
    images: list[torch.Tensor], batch_size: int, patch_size: int, generator: torch.Generator
) -> torch.Tensor:
    """A ``(batch_size, C, patch_size, patch_size)`` batch of random crops with random horizontal flips (C as in the
    images: 3, or 6 for a clean image stacked on its decoded copy, so that both crop alike).

    All randomness comes from ``generator``, so a trainer that seeds it from ``(seed, step)`` draws the same batch
    at the same step after a resume. Images smaller than a patch raise ``ValueError``.
    """
    for i, im in enumerate(images):
        if min(im.shape[-2:]) < patch_size:
            raise ValueError(f"image {i} is {im.shape[-2]}x{im.shape[-1]}, smaller than the {patch_size} patch")
    out = torch.empty(batch_size, images[0].shape[0], patch_size, patch_size)  # stacked pairs crop together
    picks = torch.randint(len(images), (batch_size,), generator=generator)
    coords = torch.rand(batch_size, 3, generator=generator)
    for b in range(batch_size):
        im = images[int(picks[b])]
        top = int(coords[b, 0] * (im.shape[-2] - patch_size + 1))
        left = int(coords[b, 1] * (im.shape[-1] - patch_size + 1))
        patch = im[:, top : top + patch_size, left : left + patch_size]
        out[b] = patch.flip(-1) if coords[b, 2] < 0.5 else patch
    return out
