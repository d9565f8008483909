"""Small utilities the chapters share: device choice, progress bars, image grids and a run report."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Mapping, Sequence

import torch
from tqdm.auto import tqdm

__all__ = ["image_grid", "pick_device", "progress", "rd_explorer", "run_report"]

_START = time.perf_counter()


def progress(iterable, desc: str | None = None, disable: bool = False, **kw):
    """tqdm that adapts to notebooks and terminals; silenced by ``NIC_NO_PROGRESS=1`` (used in CI logs)."""
    disable = disable or os.environ.get("NIC_NO_PROGRESS") == "1"
    return tqdm(iterable, desc=desc, disable=disable, **kw)


def pick_device(device: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple's MPS, then the CPU; any other string is taken as it is."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


def image_grid(images: Mapping[str, torch.Tensor] | Sequence[torch.Tensor], ncols: int | None = None,
               size: float = 3.0, crop: tuple[int, int, int, int] | None = None):
    """Show ``(3, H, W)`` images side by side with their names as titles; ``crop = (top, left, h, w)`` zooms in."""
    import matplotlib.pyplot as plt

    named = dict(images) if isinstance(images, Mapping) else {str(i): im for i, im in enumerate(images)}
    n = len(named)
    ncols = ncols or n
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, im) in zip(axes.flat, named.items()):
        if crop is not None:
            t, l, h, w = crop
            im = im[:, t : t + h, l : l + w]
        ax.imshow(im.detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    return fig


def run_report(device: torch.device | str | None = None) -> str:
    """One line for the end of a chapter: wall time since ``helpers.notebook`` was imported, and the hardware."""
    dev = torch.device(device) if device is not None else pick_device()
    hw = f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()})"
    if dev.type == "cuda":
        hw = f"{torch.cuda.get_device_name(dev)} + " + hw
    return (f"Ran in {time.perf_counter() - _START:.0f} s on {hw}, device {dev}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads.")


def rd_explorer(reconstructions: Mapping[str, tuple[torch.Tensor, float, float]], crop: tuple[int, int, int, int]
                | None = None):
    """A slider over precomputed ``{label: (x_hat, bpp, psnr)}``, ordered by rate; each move redraws one image.

    Works live in Jupyter and Colab (ipywidgets); the rendered book shows the first setting.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    labels = sorted(reconstructions, key=lambda k: reconstructions[k][1])

    def show(i: int):
        x_hat, rate, quality = reconstructions[labels[i]]
        if crop is not None:
            t, l, h, w = crop
            x_hat = x_hat[:, t : t + h, l : l + w]
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.imshow(x_hat.clamp(0, 1).permute(1, 2, 0).numpy())
        ax.set_title(f"{labels[i]}: {rate:.3f} bpp, {quality:.2f} dB")
        ax.axis("off")
        plt.show()

    slider = widgets.IntSlider(min=0, max=len(labels) - 1, value=0, description="setting", continuous_update=False)
    return widgets.interactive(show, i=slider)
