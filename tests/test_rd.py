import numpy as np
import pandas as pd
import pytest

from helpers.rd import bd_psnr, bd_rate, bd_rate_table, rd_curve

RATES = np.array([0.25, 0.5, 1.0, 2.0])
PSNR = np.array([28.0, 31.0, 34.5, 38.0])


@pytest.mark.parametrize("method", ["cubic", "pchip"])
@pytest.mark.parametrize("factor", [0.8, 1.0, 1.5])
def test_bd_rate_of_a_scaled_curve_is_the_scale(method, factor):
    # the same quality at `factor` times the rate everywhere: BD-rate is exactly (factor - 1)
    assert bd_rate(RATES, PSNR, RATES * factor, PSNR, method) == pytest.approx((factor - 1) * 100, abs=1e-9)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_bd_psnr_of_a_shifted_curve_is_the_shift(method):
    assert bd_psnr(RATES, PSNR, RATES, PSNR + 0.7, method) == pytest.approx(0.7, abs=1e-9)


def test_bd_rate_is_antisymmetric_in_log_domain():
    other_r, other_q = RATES * np.array([0.7, 0.75, 0.8, 0.9]), PSNR + np.array([0, 0.2, 0.1, 0.3])
    a = bd_rate(RATES, PSNR, other_r, other_q)
    b = bd_rate(other_r, other_q, RATES, PSNR)
    assert np.log1p(a / 100) == pytest.approx(-np.log1p(b / 100), abs=1e-9)
    assert a < 0


def test_bd_rate_on_an_analytic_curve():
    # PSNR = 10 log10(R) * 6 + 30 for the anchor; test is the anchor at R / 2 in rate: BD-rate -50 %
    q = np.linspace(25, 40, 6)
    r_anchor = 10 ** ((q - 30) / 60)
    assert bd_rate(r_anchor, q, r_anchor / 2, q) == pytest.approx(-50.0, abs=1e-6)


def test_point_order_does_not_matter():
    perm = [2, 0, 3, 1]
    assert bd_rate(RATES, PSNR, RATES[perm] * 0.9, PSNR[perm]) == pytest.approx(-10.0)


def test_bd_errors():
    with pytest.raises(ValueError, match="share no quality range"):
        bd_rate(RATES, PSNR, RATES, PSNR + 20)
    with pytest.raises(ValueError, match="at least 4 points"):
        bd_rate(RATES[:3], PSNR[:3], RATES[:3], PSNR[:3])
    with pytest.raises(ValueError, match="positive"):
        bd_rate(-RATES, PSNR, RATES, PSNR)
    with pytest.raises(ValueError, match="same quality"):
        bd_rate([0.1, 0.2, 0.3, 0.4], [30, 30, 31, 32], RATES, PSNR)


def test_rd_curve_and_table():
    rows = []
    for codec, scale in [("A", 1.0), ("B", 0.5)]:
        for s, (r, q) in enumerate(zip(RATES, PSNR)):
            for img, dq in [("x", -0.5), ("y", 0.5)]:
                rows.append(
                    {
                        "codec": codec,
                        "setting": s,
                        "image": img,
                        "bpp": r * scale,
                        "psnr": q + dq,
                        "ms_ssim": 0.9 + 0.01 * s,
                    }
                )
    curves = rd_curve(pd.DataFrame(rows))
    assert len(curves) == 8 and (curves["images"] == 2).all()
    np.testing.assert_allclose(curves[curves.codec == "A"]["psnr"], PSNR)  # image offsets average out
    table = bd_rate_table(curves, anchor="A", metrics=["psnr"])
    assert table.loc["A"].iloc[0] == pytest.approx(0.0, abs=1e-9)
    assert table.loc["B"].iloc[0] == pytest.approx(-50.0, abs=1e-9)
    with pytest.raises(ValueError, match="anchor"):
        bd_rate_table(curves, anchor="C")


def test_bd_rate_table_marks_curves_it_cannot_compare():
    rows = [{"codec": "A", "setting": i, "bpp": r, "psnr": q} for i, (r, q) in enumerate(zip(RATES, PSNR))]
    rows += [{"codec": "short", "setting": 0, "bpp": 0.5, "psnr": 30.0}]
    rows += [{"codec": "far", "setting": i, "bpp": r, "psnr": q + 20} for i, (r, q) in enumerate(zip(RATES, PSNR))]
    with pytest.warns(UserWarning) as caught:
        table = bd_rate_table(rd_curve(pd.DataFrame(rows)), anchor="A", metrics=["psnr"])
    assert table.loc["A"].iloc[0] == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(table.loc["short"].iloc[0]) and np.isnan(table.loc["far"].iloc[0])
    text = " ".join(str(w.message) for w in caught)
    assert "short" in text and "4 points" in text and "far" in text and "share no quality range" in text
