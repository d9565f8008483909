import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from helpers.entropy import FactorizedDensity, decode, encode
from helpers.losses import bits

SCALES = torch.tensor([0.3, 1.0, 3.0, 12.0]).view(1, 4, 1, 1)


def laplace(shape, seed):
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(shape, generator=g) - 0.5
    return -torch.sign(u) * torch.log1p(-2 * u.abs()) * SCALES  # Laplace(0, scale) per channel


@pytest.fixture(scope="module")
def fitted():
    """A density fitted for a few hundred steps to Laplace latents of four very different scales."""
    torch.manual_seed(0)
    d = FactorizedDensity(4)
    opt = torch.optim.Adam(d.parameters(), lr=2e-2)
    for i in range(400):
        y = laplace((8, 4, 16, 16), i)
        loss = bits(d(y + torch.rand_like(y) - 0.5)) / y.numel()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return d


def test_likelihoods_are_probabilities(fitted):
    grid = torch.arange(-300, 301, dtype=torch.float32).view(1, 1, 1, -1).expand(1, 4, 1, -1)
    p = fitted(grid)
    assert ((p > 0) & (p <= 1)).all()
    np.testing.assert_allclose(p.sum(-1).flatten().detach().numpy(), 1.0, atol=1e-4)  # mass of all integer bins


def test_cdf_is_monotone(fitted):
    v = torch.linspace(-50, 50, 2001).view(1, 1, -1).expand(4, 1, -1)
    assert (fitted.logits_cdf(v).diff(dim=-1) >= 0).all()


def test_density_learns_each_channels_scale(fitted):
    tab = fitted.tables()
    widths = [len(f) for f in tab.freqs]
    assert widths == sorted(widths) and widths[-1] > 5 * widths[0]  # wider tables for wider channels


def test_real_bytes_within_one_percent_of_the_estimate(fitted):
    y = torch.round(laplace((1, 4, 96, 96), 999))
    estimate = float(bits(fitted(y)).detach())
    data = encode(y[0].reshape(4, -1).long().numpy(), fitted.tables())
    assert len(data) * 8 == pytest.approx(estimate, rel=0.01)


def test_tables_are_deterministic_and_fingerprinted(fitted):
    a, b = fitted.tables(), fitted.tables()
    assert a.fingerprint() == b.fingerprint()
    assert all(f.sum() == 1 << a.precision and (f >= 1).all() for f in a.freqs)
    other = FactorizedDensity(4)
    assert other.tables().fingerprint() != a.fingerprint()


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.int64,
        st.tuples(st.just(4), st.integers(0, 300)),
        elements=st.one_of(st.integers(-20, 20), st.integers(-(2**31), 2**31 - 1)),
    )
)
def test_decode_encode_is_identity_for_any_integers(fitted_tables, symbols):
    data = encode(symbols, fitted_tables)
    np.testing.assert_array_equal(decode(data, fitted_tables, symbols.shape[1]), symbols)


@pytest.fixture(scope="module")
def fitted_tables(fitted):
    return fitted.tables()


def test_escapes_are_rare_on_real_latents(fitted_tables):
    y = torch.round(laplace((1, 4, 64, 64), 7))[0].reshape(4, -1).long().numpy()
    data = encode(y, fitted_tables)
    assert int.from_bytes(data[:4], "little") == 0


def test_corrupt_streams_raise(fitted_tables):
    y = np.zeros((4, 100), dtype=np.int64)
    data = encode(y, fitted_tables)
    for bad in [b"", data[:3], b"\xff\xff\xff\xff" + data[4:], data[:-1]]:
        with pytest.raises(ValueError):
            decode(bad, fitted_tables, 100)
    with pytest.raises(ValueError):
        encode(np.zeros((3, 10), dtype=np.int64), fitted_tables)
    with pytest.raises(ValueError):
        encode(np.zeros((4, 10)), fitted_tables)


def test_table_rows_are_integer_counts_that_sum_to_the_precision_and_never_zero(fitted_tables):
    """Every symbol of the range, and the escape, keeps a count of at least one: nothing is impossible."""
    for row in fitted_tables.freqs:
        assert row.dtype == np.int64 and row.sum() == 1 << fitted_tables.precision and row.min() >= 1


def test_tables_are_built_once_per_state_of_the_weights():
    """Coding reuses the tables until a weight changes in any way; then they are rebuilt, never stale."""
    d = FactorizedDensity(4)

    def fresh():  # the tables a new model with these weights builds
        other = FactorizedDensity(4)
        other.load_state_dict(d.state_dict())
        return other.tables()

    first = d.tables()
    assert d.tables() is first  # cached
    with pytest.raises(ValueError):
        first.freqs[0][0] = 1  # shared by later calls: read-only
    saved = {k: v.clone() for k, v in d.state_dict().items()}
    fingerprints = {first.fingerprint()}

    with torch.no_grad():
        d.matrices[0].add_(0.5)  # an in-place edit
    edited = d.tables()
    assert edited is not first and edited.fingerprint() == fresh().fingerprint()
    fingerprints.add(edited.fingerprint())

    opt = torch.optim.SGD(d.parameters(), lr=1.0)  # an optimizer step
    d(torch.randn(1, 4, 8, 8)).log().sum().backward()
    opt.step()
    stepped = d.tables()
    assert stepped.fingerprint() == fresh().fingerprint()
    fingerprints.add(stepped.fingerprint())
    assert len(fingerprints) == 3

    d.load_state_dict(saved)  # back to the first weights
    assert d.tables().fingerprint() == first.fingerprint()
