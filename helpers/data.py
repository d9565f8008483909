"""Images in, tensors out: the embedded photo set, folders, optional downloads and training patches.

Every image in this package is a ``float32`` tensor of shape ``(3, H, W)`` with values in ``[0, 1]`` (a batch
adds a leading ``B``). :func:`to_tensor` is the one door into that form, and it states its rule for every
input it accepts:

========================  ==================================================================================
input                     rule
========================  ==================================================================================
RGB, 8 bit                divided by 255
grayscale (L, 1, (H,W))   replicated to three channels
palette (P, PA)           expanded through the palette (transparency kept, then treated as alpha)
with alpha (LA, RGBA)     composited over a white background, the way a browser shows it
16 bit (I;16, uint16)     divided by 65535, so no precision is lost before the float conversion
32 bit integer (I)        treated as 16-bit data (what PNG and TIFF decoders produce), clipped to 65535
float (F, float arrays)   must already lie in [0, 1]; anything else is refused
CMYK, YCbCr, LAB, HSV     converted to RGB by Pillow
========================  ==================================================================================

Sizes are never changed silently: images smaller than a training patch raise a :class:`ValueError` (or are
reflect-padded when ``pad_if_needed=True``), and :func:`pad_to_multiple` / :func:`crop` are the documented way
to feed odd sizes to a network with a fixed stride.
"""

from __future__ import annotations

import functools
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision.transforms import v2

__all__ = [
    "EMBEDDED",
    "TEST_NAMES",
    "TRAIN_NAMES",
    "DatasetUnavailable",
    "PatchDataset",
    "crop",
    "default_images",
    "download_cifar10",
    "download_kodak",
    "load_folder",
    "load_image",
    "load_images",
    "pad_to_multiple",
    "random_patches",
    "shared_data_dir",
    "to_pil",
    "to_tensor",
    "to_uint8",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")
CACHE_DIR = Path(os.environ.get("NIC_CACHE", Path.home() / ".cache" / "nic-book"))


class DatasetUnavailable(RuntimeError):
    """An optional data set could not be fetched (usually: no network)."""


# --------------------------------------------------------------------------------------------------------------
# Conversion: the one rule for every input
# --------------------------------------------------------------------------------------------------------------

_WHITE = 1.0


def _composite(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return rgb * alpha + _WHITE * (1.0 - alpha)


def _array_to_unit(a: np.ndarray) -> np.ndarray:
    """Integer or float array -> float64 in [0, 1] by the rule in the module docstring."""
    if a.size == 0:
        raise ValueError(f"empty image (shape {a.shape})")
    if a.dtype == np.bool_:
        return a.astype(np.float64)
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float64) / 65535.0
    if a.dtype in (np.int32, np.uint32, np.int64):
        if a.min() < 0:
            raise ValueError(f"integer image with negative values (min {a.min()}): not a photo")
        return np.minimum(a, 65535).astype(np.float64) / 65535.0
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ValueError("float image must lie in [0, 1], but it holds NaN or infinite values")
        lo, hi = float(a.min()), float(a.max())
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise ValueError(
                f"float image must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]; "
                "scale it first (for example divide 8-bit data by 255)"
            )
        return np.clip(a.astype(np.float64), 0.0, 1.0)
    raise ValueError(f"unsupported image dtype {a.dtype}")


def _channels_last_to_rgb(a: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, C) float array with C in 1..4 -> (H, W, 3)."""
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"expected an image of shape (H, W) or (H, W, C) with C in 1..4, got {a.shape}")
    c = a.shape[2]
    if c == 1:
        return np.repeat(a, 3, axis=2)
    if c == 2:  # gray + alpha
        return np.repeat(_composite(a[..., :1], a[..., 1:]), 3, axis=2)
    if c == 4:
        return _composite(a[..., :3], a[..., 3:])
    return a


def _pil_to_array(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("P", "PA"):
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode == "1":
        return np.asarray(img, dtype=np.bool_)
    if mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(img)
    if mode in ("La", "RGBa"):  # premultiplied alpha: undo, then treat as straight alpha
        return np.asarray(img.convert("RGBA" if mode == "RGBa" else "LA"))
    if mode.startswith("I;16"):
        return np.asarray(img).astype(np.uint16)
    if mode == "I":
        return np.asarray(img).astype(np.int64)
    if mode == "F":
        return np.asarray(img)
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(img.convert("RGB"))
    raise ValueError(f"unsupported Pillow image mode {mode!r}")


def to_tensor(image) -> torch.Tensor:
    """Any supported image (PIL, numpy ``(H,W[,C])``, torch ``([C,]H,W)``) -> float32 ``(3, H, W)`` in [0, 1]."""
    if isinstance(image, Image.Image):
        a = _pil_to_array(image)
    elif isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.ndim == 3 and t.shape[0] in (1, 2, 3, 4):
            t = t.permute(1, 2, 0)
        elif t.ndim != 2:
            raise ValueError(f"expected a tensor of shape (C, H, W) with C in 1..4 or (H, W), got {tuple(t.shape)}")
        a = t.numpy()
    elif isinstance(image, np.ndarray):
        a = image
    else:
        raise TypeError(f"cannot make an image of {type(image).__name__}")
    rgb = _channels_last_to_rgb(_array_to_unit(np.asarray(a)))
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float()


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` in [0, 1] -> ``(H, W, 3)`` uint8, rounded (what an 8-bit file would store)."""
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"expected (3, H, W), got {tuple(x.shape)}")
    return (x.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def to_pil(x: torch.Tensor) -> Image.Image:
    return Image.fromarray(to_uint8(x), mode="RGB")


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """Read one image file with Pillow and convert it with :func:`to_tensor`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no image file at {path}")
    try:
        with Image.open(path) as img:
            img.load()
            return to_tensor(img)
    except UnidentifiedImageError as err:
        raise ValueError(f"{path} is not an image Pillow can read") from err


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
        EmbeddedImage("motorcycle", "scikit-image: skimage.data.stereo_motorcycle()[0]", True,
                      _skimage("stereo_motorcycle")),
        EmbeddedImage("chelsea", "scikit-image: skimage.data.chelsea()", True, _skimage("chelsea")),
        EmbeddedImage("rocket", "scikit-image: skimage.data.rocket()", False, _skimage("rocket")),
        EmbeddedImage("china", "scikit-learn: load_sample_image('china.jpg')", False, _sklearn("china.jpg")),
        EmbeddedImage("flower", "scikit-learn: load_sample_image('flower.jpg')", False, _sklearn("flower.jpg")),
        EmbeddedImage("grace_hopper", "matplotlib: cbook.get_sample_data('grace_hopper.jpg')", False,
                      _matplotlib("grace_hopper.jpg")),
    ]
}
#: Held-out images: the three that ship losslessly, so codecs are not judged on another codec's artefacts.
TEST_NAMES: tuple[str, ...] = ("astronaut", "coffee", "motorcycle")
#: Training images: the rest (four of them are JPEG files; fine for learning, not for measuring).
TRAIN_NAMES: tuple[str, ...] = tuple(n for n in EMBEDDED if n not in TEST_NAMES)


@functools.lru_cache(maxsize=None)
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


def shared_data_dir() -> Path | None:
    """The project's evaluation photos (``cbsd68``, ``mcmaster``), if this checkout has them.

    Looked up in ``$NIC_SHARED_DATA`` and then in ``../shared/data`` beside the repository. The book never needs
    them; tests and benchmarks skip without them.
    """
    candidates = []
    if os.environ.get("NIC_SHARED_DATA"):
        candidates.append(Path(os.environ["NIC_SHARED_DATA"]))
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
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
# Shapes: padding to a stride, cropping back, random training patches
# --------------------------------------------------------------------------------------------------------------


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "replicate") -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the bottom and right of ``(…, H, W)`` so both sides divide by ``multiple``; returns ``(x_pad, (H, W))``.

    Replicated edges cost fewer bits than zeros; :func:`crop` with the returned size undoes it.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x, (h, w)
    squeeze = x.ndim == 3
    y = x.unsqueeze(0) if squeeze else x
    y = F.pad(y, (0, pw, 0, ph), mode=mode)
    return (y.squeeze(0) if squeeze else y), (h, w)


def crop(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Undo :func:`pad_to_multiple`."""
    return x[..., : size[0], : size[1]]


class PatchDataset(Dataset):
    """Random ``patch_size`` crops (and horizontal flips) of a list of images, ``patches_per_image`` per epoch.

    Randomness comes from torch's generator, so ``torch.manual_seed`` (and a seeded DataLoader) make it repeatable.
    Images smaller than a patch raise ``ValueError`` unless ``pad_if_needed=True`` (reflect padding).
    """

    def __init__(
        self,
        images: Mapping[str, torch.Tensor] | list[torch.Tensor],
        patch_size: int,
        patches_per_image: int = 64,
        augment: bool = True,
        pad_if_needed: bool = False,
    ):
        named = dict(images) if isinstance(images, Mapping) else {str(i): im for i, im in enumerate(images)}
        if not named:
            raise ValueError("PatchDataset needs at least one image")
        for name, im in named.items():
            if im.ndim != 3 or im.shape[0] != 3:
                raise ValueError(f"image {name!r} must be (3, H, W), got {tuple(im.shape)}")
            if min(im.shape[-2:]) < patch_size and not pad_if_needed:
                raise ValueError(
                    f"image {name!r} is {im.shape[-2]}x{im.shape[-1]}, smaller than the {patch_size}x{patch_size} "
                    "patch; use a smaller patch_size or pad_if_needed=True"
                )
        self.images = list(named.values())
        self.names = list(named)
        self.patches_per_image = patches_per_image
        steps = [v2.RandomCrop(patch_size, pad_if_needed=pad_if_needed, padding_mode="reflect")]
        if augment:
            steps.append(v2.RandomHorizontalFlip())
        self.transform = v2.Compose(steps)

    def __len__(self) -> int:
        return len(self.images) * self.patches_per_image

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.transform(self.images[i % len(self.images)])


def random_patches(images: list[torch.Tensor], batch_size: int, patch_size: int,
                   generator: torch.Generator) -> torch.Tensor:
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
