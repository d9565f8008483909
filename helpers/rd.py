"""Rate-distortion curves: averaging sweeps, Bjøntegaard deltas (BD-rate, BD-PSNR) and plots.

BD-rate (Bjøntegaard, VCEG-M33, 2001) answers "how many percent more or fewer bytes does codec B need for the same
quality as codec A?". Fit log-rate as a function of quality for each curve, integrate both fits over the quality
range the curves share, and compare the mean log-rates: ``BD-rate = exp(mean_B - mean_A) - 1``. Negative is better.
The classic fit is a cubic polynomial (needs 4 points); ``method="pchip"`` uses the monotone piecewise-cubic
interpolation that later VCEG/JVET tools adopted, which does not overshoot between points.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["bd_psnr", "bd_rate", "bd_rate_table", "plot_rd", "rd_curve"]

METRIC_LABELS = {
    "psnr": "PSNR (dB)",
    "ssim": "SSIM",
    "ms_ssim": "MS-SSIM",
    "ms_ssim_db": "MS-SSIM (dB)",
    "mse": "MSE",
}


def _clean(rate: Sequence[float], quality: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    r, q = np.asarray(rate, dtype=np.float64), np.asarray(quality, dtype=np.float64)
    if r.shape != q.shape or r.ndim != 1:
        raise ValueError(f"rate and quality must be 1-D and equally long, got {r.shape} and {q.shape}")
    if not (np.isfinite(r).all() and np.isfinite(q).all()) or (r <= 0).any():
        raise ValueError("rates must be positive and every value finite")
    order = np.argsort(q)
    r, q = r[order], q[order]
    if len(np.unique(q)) != len(q):
        raise ValueError("two points of one curve have the same quality; drop one of them")
    return r, q


def _mean_fit(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
    """Mean over x in [lo, hi] of a fit of y against x (cubic polynomial or PCHIP)."""
    order = np.argsort(x)
    x, y = x[order], y[order]
    if method == "cubic":
        antiderivative = np.polyint(np.polyfit(x, y, 3))
        area = np.polyval(antiderivative, hi) - np.polyval(antiderivative, lo)
    else:  # "pchip"; _check_points has refused anything else
        from scipy.interpolate import PchipInterpolator

        area = PchipInterpolator(x, y).integrate(lo, hi)
    return area / (hi - lo)


def _check_points(n: int, method: str) -> None:
    need = {"cubic": 4, "pchip": 2}.get(method)
    if need is None:
        raise ValueError(f"method must be 'cubic' or 'pchip', got {method!r}")
    if n < need:
        hint = "; try method='pchip'" if method == "cubic" and n >= 2 else ""
        raise ValueError(f"the {method} BD fit needs at least {need} points per curve, got {n}{hint}")


def _overlap(q1: np.ndarray, q2: np.ndarray) -> tuple[float, float]:
    lo, hi = max(q1.min(), q2.min()), min(q1.max(), q2.max())
    if lo >= hi:
        raise ValueError(
            f"the two curves share no quality range ([{q1.min():.3g}, {q1.max():.3g}] vs "
            f"[{q2.min():.3g}, {q2.max():.3g}]); extend one of the sweeps"
        )
    return lo, hi


def bd_rate(rate_anchor, quality_anchor, rate_test, quality_test, method: str = "cubic") -> float:
    """Average rate difference (percent) of the test curve against the anchor at equal quality; negative is better."""
    r1, q1 = _clean(rate_anchor, quality_anchor)
    r2, q2 = _clean(rate_test, quality_test)
    _check_points(min(len(r1), len(r2)), method)
    lo, hi = _overlap(q1, q2)
    diff = _mean_fit(q2, np.log(r2), lo, hi, method) - _mean_fit(q1, np.log(r1), lo, hi, method)
    return float((np.exp(diff) - 1) * 100)


def bd_psnr(rate_anchor, quality_anchor, rate_test, quality_test, method: str = "cubic") -> float:
    """Average quality difference (e.g. dB of PSNR) of the test curve at equal rate; positive is better."""
    r1, q1 = _clean(rate_anchor, quality_anchor)
    r2, q2 = _clean(rate_test, quality_test)
    _check_points(min(len(r1), len(r2)), method)
    l1, l2 = np.log(r1), np.log(r2)  # the same fit with the axes swapped: quality against log-rate
    lo, hi = _overlap(l1, l2)
    return float(_mean_fit(l2, q2, lo, hi, method) - _mean_fit(l1, q1, lo, hi, method))


def rd_curve(rows: pd.DataFrame) -> pd.DataFrame:
    """Average per-image rows of :func:`helpers.evaluate.rd_sweep` into one point per (codec, setting).

    bpp and every quality metric are averaged over images (the mean PSNR, not the PSNR of the mean MSE: the usual
    convention of papers and CompressAI). Adds ``ms_ssim_db`` when MS-SSIM is present.
    """
    metrics = [c for c in ("bpp", "psnr", "ssim", "ms_ssim", "mse", "encode_s", "decode_s") if c in rows]
    out = rows.groupby(["codec", "setting"], sort=False)[metrics].mean().reset_index()
    out["images"] = rows.groupby(["codec", "setting"], sort=False).size().to_numpy()
    if "ms_ssim" in out:
        out["ms_ssim_db"] = -10 * np.log10(np.clip(1 - out["ms_ssim"], 1e-12, None))
    return out.sort_values(["codec", "bpp"], kind="stable").reset_index(drop=True)


def bd_rate_table(
    curves: pd.DataFrame, anchor: str, metrics: Sequence[str] = ("psnr", "ms_ssim_db"), method: str = "cubic"
) -> pd.DataFrame:
    """BD-rate (percent) of every codec in ``curves`` (output of :func:`rd_curve`) against ``anchor``.

    A codec whose curve cannot be compared (too few points for the fit, no quality range shared with the anchor)
    gets NaN and a warning that says why, so one short curve does not sink the whole table.
    """
    if anchor not in set(curves["codec"]):
        raise ValueError(f"anchor {anchor!r} is not among the codecs {sorted(set(curves['codec']))}")
    ref = curves[curves["codec"] == anchor]
    table = {}
    for codec, cur in curves.groupby("codec", sort=False):
        row = {}
        for m in metrics:
            try:
                row[f"BD-rate {METRIC_LABELS.get(m, m)} %"] = bd_rate(ref["bpp"], ref[m], cur["bpp"], cur[m], method)
            except ValueError as err:
                warnings.warn(f"no BD-rate ({m}) for {codec} against {anchor}: {err}", stacklevel=2)
                row[f"BD-rate {METRIC_LABELS.get(m, m)} %"] = float("nan")
        table[codec] = row
    return pd.DataFrame(table).T.rename_axis(f"vs {anchor}")


def plot_rd(
    curves: pd.DataFrame, metric: str = "psnr", ax=None, title: str | None = None, legend: bool = True, **line_kw
):
    """One line per codec: bpp on x, ``metric`` on y; the legend below the axes, in three columns, where it
    covers no curve (``legend=False``: none, e.g. for the upper panel of a stacked pair). Returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4))
    for codec, cur in curves.groupby("codec", sort=False):
        cur = cur.sort_values("bpp")
        ax.plot(cur["bpp"], cur[metric], marker="o", markersize=3.5, label=codec, **line_kw)
    ax.set_xlabel("rate (bits per pixel, from file bytes)")
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    ax.grid(True, alpha=0.3)
    if legend:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.24), ncol=3, frameon=False)
    if title:
        ax.set_title(title)
    return ax
