"""What the chapters show: the book's figure style, image grids, formatted tables, a rate explorer and a run
report. ``pick_device`` and ``progress`` (:mod:`helpers.runtime`) are re-exported for the chapters."""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Mapping, Sequence

import torch

from .runtime import pick_device, progress

__all__ = [
    "BOOK_WIDTH",
    "book_style",
    "glue",
    "image_grid",
    "pick_device",
    "progress",
    "rd_explorer",
    "run_report",
    "show_table",
]

_START = time.perf_counter()

#: every value :func:`glue` named in this process: the prose's numbers, for a chapter's own checks
GLUED: dict[str, object] = {}


def glue(name: str, value) -> None:
    """Name a number (or a short text) that the chapter's prose quotes: ``{glue:text}`name:.1f``` then prints the
    value this run computed, so a sentence cannot drift from its cell. numpy and torch scalars become plain
    Python values first (their reprs, e.g. ``np.float64(1.5)``, would not format). Where MyST-NB is not
    installed (Colab without the book's extras) the value is only kept in :data:`GLUED`."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    GLUED[name] = value
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return
    _glue(name, value, display=False)


# Figures are drawn at most this wide (inches, at 100 dpi): the book's column is 756 px on a desktop and 327 px on
# a phone, so a 5.4-inch figure shows whole on a desktop and at 60 % on a phone, where 13-point text is 11 px.
BOOK_WIDTH = 5.4
_BOOK_RC = {
    "figure.figsize": (BOOK_WIDTH, 3.6),
    "figure.dpi": 100,
    "font.size": 13,
    "axes.titlesize": 13,
    "axes.labelsize": 13,
    "legend.fontsize": 11,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "figure.titlesize": 14,
}


def book_style() -> None:
    """The book's figure settings (matplotlib rcParams): figures at most :data:`BOOK_WIDTH` inches wide at
    100 dpi with 12-13 point text (11 for legends), so titles and labels stay legible at a phone's column width."""
    import matplotlib as mpl

    mpl.rcParams.update(_BOOK_RC)


def image_grid(
    images: Mapping[str, torch.Tensor] | Sequence[torch.Tensor],
    ncols: int | None = None,
    size: float | None = None,
    crop: tuple[int, int, int, int] | None = None,
    titles: bool = True,
):
    """Show ``(3, H, W)`` images in a grid with their names as titles; ``crop = (top, left, h, w)`` zooms in.

    ``ncols`` defaults to 2 (3 for six or more images), so each panel keeps a useful size on a phone; the figure
    is :data:`BOOK_WIDTH` inches wide unless ``size`` (inches per panel) says otherwise, and titles are 13 point."""
    import matplotlib.pyplot as plt

    named = dict(images) if isinstance(images, Mapping) else {str(i): im for i, im in enumerate(images)}
    n = len(named)
    ncols = min(ncols or (3 if n >= 6 else 2), n)
    nrows = -(-n // ncols)
    size = size or BOOK_WIDTH / ncols
    first = next(iter(named.values()))
    aspect = (crop[2] / crop[3]) if crop is not None else first.shape[-2] / first.shape[-1]
    title_h = 0.32 if titles else 0.0
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size * aspect + title_h) * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, im) in zip(axes.flat, named.items()):
        if crop is not None:
            t, l, h, w = crop
            im = im[:, t : t + h, l : l + w]
        ax.imshow(im.detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
        if titles:
            ax.set_title(name, fontsize=13)
    fig.tight_layout(pad=0.3)
    return fig


def show_table(df, digits: int | Mapping[str | None, int | str] = 3, caption: str | None = None):
    """A DataFrame formatted for reading: named index levels become ordinary columns (no empty header row),
    whole-number columns print as integers with thousands separators (145,560, not 145560.0), other numbers with
    ``digits`` decimals (one value, or ``{column: digits}`` with a default under ``None``; a string such as
    ``"{:g}"`` is a format of its own), missing values as "–". A column ``"<m> sd"`` beside ``"<m>"`` joins it as
    "mean ±sd", the spread to one significant digit where the mean's decimals would round it to zero, so a table of
    means and spreads stays narrow and no spread reads as none.
    Returns a pandas ``Styler``: HTML in notebooks and the book, ``.data`` for the numbers."""
    import numpy as np
    import pandas as pd

    table = df.to_frame() if isinstance(df, pd.Series) else df.copy()
    if any(name is not None for name in table.index.names):
        table = table.reset_index()
    table.columns = [
        " ".join(str(c) for c in col if str(c)) if isinstance(col, tuple) else str(col) for col in table.columns
    ]
    default = digits.get(None, 3) if isinstance(digits, Mapping) else digits
    formats = {}
    for col in table.columns:
        values = table[col]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        if isinstance(digits, Mapping) and isinstance(digits.get(col), str):
            formats[col] = digits[col]
            continue
        finite = values[np.isfinite(values.astype(float))]
        if (
            len(finite)
            and (finite == finite.round()).all()
            and (pd.api.types.is_integer_dtype(values) or finite.abs().max() >= 100)
        ):
            formats[col] = "{:,.0f}"
        else:
            d = digits.get(col, default) if isinstance(digits, Mapping) else digits
            formats[col] = f"{{:,.{d}f}}"
    for col in [c for c in table.columns if c.endswith(" sd") and c[:-3] in formats]:
        mean, fmt = col[:-3], formats[col[:-3]]
        formats.pop(col, None)
        table[mean] = [
            formats[mean].format(m) + ("" if pd.isna(s) else f" ±{_spread(s, fmt)}") if pd.notna(m) else None
            for m, s in zip(table[mean], table[col])
        ]
        formats.pop(mean)
        table = table.drop(columns=col)
    styler = table.style.format(formats, na_rep="–").hide(axis="index")
    styler = styler.set_table_attributes('class="dataframe nic-table"')
    return styler.set_caption(caption) if caption else styler


def _spread(sd: float, fmt: str) -> str:
    """A standard deviation in the mean's format, or to one significant digit where that format shows zero."""
    shown = fmt.format(sd)
    if sd > 0 and not any(c in "123456789" for c in shown):
        return f"{sd:.{max(0, -math.floor(math.log10(sd)))}f}"  # plain decimals, one significant digit
    return shown


def run_report(device: torch.device | str | None = None) -> str:
    """One line for the end of a chapter: wall time since ``helpers.notebook`` was imported, and the hardware."""
    dev = torch.device(device) if device is not None else pick_device()
    hw = f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()})"
    if dev.type == "cuda":
        hw = f"{torch.cuda.get_device_name(dev)} + " + hw
    return (
        f"Ran in {time.perf_counter() - _START:.0f} s on {hw}, device {dev}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads."
    )


class _WidgetWithFallback:
    """Displays as its widget in a live kernel and as static HTML where no widget can run (the built book is
    offline: ipywidgets' JavaScript would come from a CDN, so ``_config.yml`` ranks text/html above widgets)."""

    def __init__(self, widget, html: str):
        self.widget, self.html = widget, html

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude) or {}
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        return {**data, "text/html": self.html}


def rd_explorer(
    reconstructions: Mapping[str, tuple[torch.Tensor, float, float]],
    crop: tuple[int, int, int, int] | None = None,
    width: int = 360,
):
    """A slider over precomputed ``{label: (x_hat, bpp, psnr)}``, ordered by rate, showing one image at a time.

    In a live kernel it is an ipywidgets slider. In static HTML (the built book, read offline) it is the same
    control made of plain HTML: a range input whose inline handler shows one of the pre-rendered frames, with no
    script file and nothing from a CDN.

    Every setting is rendered to PNG up front and the slider swaps the bytes of an ``Image`` widget. No ``Output``
    widget and no ``interactive``: nbclient (papermill, Jupyter Book) mimics a front end for Output widgets and can
    deadlock on them (jupyter/nbclient#312; it hung this book's CI), and swapping bytes also redraws faster.
    """
    import io

    import ipywidgets as widgets

    from .images import to_pil

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
        captions.append((label, f"{rate:.3f} bpp, {quality:.2f} dB"))
    image = widgets.Image(value=frames[0], format="png", width=width)
    caption = widgets.HTML(_caption(*captions[0]))
    slider = widgets.IntSlider(min=0, max=len(labels) - 1, value=0, description="setting", readout=False)

    def show(change) -> None:
        image.value, caption.value = frames[change["new"]], _caption(*captions[change["new"]])

    slider.observe(show, names="value")
    return _WidgetWithFallback(widgets.VBox([slider, caption, image]), _static_slider(frames, captions, width))


def _caption(label: str, numbers: str) -> str:
    import html

    return f"<b>{html.escape(label)}</b>: {numbers}"


# the handler shows frame `value` of the explorer it sits in and hides the others; inline, so the book needs no
# script file (and a page can hold several explorers)
_SHOW = (
    "var f=this.closest('.nic-explorer').querySelectorAll('figure');"
    "for(var i=0;i<f.length;i++){f[i].style.display=(i==this.value)?'block':'none';}"
)


def _static_slider(frames: Sequence[bytes], captions: Sequence[tuple[str, str]], width: int) -> str:
    import base64
    import html

    figures = "".join(
        f'<figure style="margin:0;display:{"block" if i == 0 else "none"}">'
        f'<img src="data:image/png;base64,{base64.b64encode(frame).decode()}" '
        f'alt="{html.escape(label)}: {numbers}" style="width:100%;max-width:{width}px;image-rendering:pixelated">'
        f"<figcaption>{_caption(label, numbers)}</figcaption></figure>"
        for i, (frame, (label, numbers)) in enumerate(zip(frames, captions))
    )
    control = (
        f'<label style="display:block">setting (slide to step through {len(frames)}, ordered by rate) '
        f'<input type="range" min="0" max="{len(frames) - 1}" value="0" step="1" '
        f'style="width:100%;max-width:{width}px" oninput="{_SHOW}" onchange="{_SHOW}"></label>'
    )
    return f'<div class="nic-explorer">{control}{figures}</div>'
