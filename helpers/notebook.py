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


class _WidgetWithFallback:
    """Displays as its widget in a live kernel and as static HTML where no widget can run (the built book is
    offline: ipywidgets' JavaScript would come from a CDN, so ``_config.yml`` ranks text/html above widgets)."""

    def __init__(self, widget, html: str):
        self.widget, self.html = widget, html

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude) or {}
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        return {**data, "text/html": self.html}


def rd_explorer(reconstructions: Mapping[str, tuple[torch.Tensor, float, float]], crop: tuple[int, int, int, int]
                | None = None, width: int = 360):
    """A slider over precomputed ``{label: (x_hat, bpp, psnr)}``, ordered by rate, showing one image at a time;
    in static HTML (the built book), a scrollable strip of every frame with its caption.

    Every setting is rendered to PNG up front and the slider swaps the bytes of an ``Image`` widget. No ``Output``
    widget and no ``interactive``: nbclient (papermill, Jupyter Book) mimics a front end for Output widgets and can
    deadlock on them (jupyter/nbclient#312; it hung this book's CI), and swapping bytes also redraws faster.
    """
    import base64
    import html
    import io

    import ipywidgets as widgets

    from .data import to_pil

    labels = sorted(reconstructions, key=lambda k: reconstructions[k][1])
    if not labels:
        raise ValueError("rd_explorer needs at least one reconstruction")
    frames, captions = [], []
    for label in labels:
        x_hat, rate, quality = reconstructions[label]
        if crop is not None:
            t, l, h, w = crop
            x_hat = x_hat[:, t : t + h, l : l + w]
        buf = io.BytesIO()
        to_pil(x_hat.detach().cpu()).save(buf, format="PNG")
        frames.append(buf.getvalue())
        captions.append(f"<b>{html.escape(label)}</b>: {rate:.3f} bpp, {quality:.2f} dB")
    image = widgets.Image(value=frames[0], format="png", width=width)
    caption = widgets.HTML(captions[0])
    slider = widgets.IntSlider(min=0, max=len(labels) - 1, value=0, description="setting", readout=False)

    def show(change) -> None:
        image.value, caption.value = frames[change["new"]], captions[change["new"]]

    slider.observe(show, names="value")
    cells = "".join(
        f'<figure style="margin:0;flex:none;width:{width // 2}px">'
        f'<img src="data:image/png;base64,{base64.b64encode(f).decode()}" alt="{html.escape(label)}" '
        f'style="width:100%;image-rendering:pixelated"><figcaption style="font-size:80%">{c}</figcaption></figure>'
        for f, c, label in zip(frames, captions, labels))
    strip = f'<div class="nic-explorer" style="display:flex;gap:6px;overflow-x:auto">{cells}</div>'
    return _WidgetWithFallback(widgets.VBox([slider, caption, image]), strip)
