import pytest
import torch

from helpers.transforms import haar, inverse_haar


def test_haar_is_orthonormal_and_invertible(rng):
    x = torch.rand(2, 3, 16, 10, generator=rng)
    y = haar(x)
    assert y.shape == (2, 12, 8, 5)
    assert torch.allclose(inverse_haar(y), x, atol=1e-6)
    assert torch.allclose((y**2).sum(), (x**2).sum(), rtol=1e-5)  # energy preserved
    flat = torch.full((1, 1, 4, 4), 0.5)
    assert torch.allclose(haar(flat)[0, 1:], torch.zeros(3, 2, 2))  # no detail in a flat image


def test_haar_needs_even_sizes():
    with pytest.raises(ValueError, match="even"):
        haar(torch.rand(1, 3, 5, 4))
