import pytest
import torch

from helpers.images import crop, pad_to_multiple
from helpers.losses import bits, rd_loss
from helpers.models import ConvAutoencoder, FactorizedPrior
from helpers.models.layers import GDN

SMALL = {
    "FactorizedPrior": lambda: FactorizedPrior(channels=16, latent_channels=24),
    "ConvAutoencoder": lambda: ConvAutoencoder(channels=16, latent_channels=12, blocks=1, downsamplings=4),
}


@pytest.fixture(params=list(SMALL))
def model(request):
    torch.manual_seed(0)
    return SMALL[request.param]()


def test_shapes_and_likelihoods(model):
    x = torch.rand(2, 3, 64, 64)
    for mode in (True, False):
        model.train(mode)
        out = model(x)
        assert out.x_hat.shape == x.shape
        assert out.likelihoods.shape == out.y.shape == (2, model.latent_channels, 4, 4)
        assert ((out.likelihoods > 0) & (out.likelihoods <= 1)).all()


def test_eval_forward_rounds_the_latent(model):
    model.eval()
    x = torch.rand(1, 3, 32, 32)
    out = model(x)
    assert torch.equal(model.synthesis(torch.round(out.y)), out.x_hat)


def test_training_steps_lower_the_loss(model):
    torch.manual_seed(1)
    x = torch.rand(4, 3, 64, 64)
    x = torch.nn.functional.avg_pool2d(x, 5, 1, 2)  # smooth images: learnable
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    losses = []
    for _ in range(30):
        out = model(x)
        loss = rd_loss(x, out.x_hat, out.likelihoods, 0.01)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5


def test_gdn_inverse_undoes_gdn_at_init():
    x = torch.randn(2, 8, 5, 5)
    y = GDN(8)(x)
    assert y.shape == x.shape and (y.abs() <= x.abs() + 1e-6).all()
    # with the identity-like initial gamma, IGDN(GDN(x)) is close to x for small inputs
    small = 0.1 * x
    back = GDN(8, inverse=True)(GDN(8)(small))
    assert torch.allclose(back, small, atol=1e-3)


def test_pca_rotation_is_orthogonal_and_sorts_energy():
    torch.manual_seed(0)
    m = ConvAutoencoder(channels=16, latent_channels=12, blocks=1, downsamplings=4).eval()
    x = torch.nn.functional.avg_pool2d(torch.rand(8, 3, 64, 64), 3, 1, 1)
    z = m.encoder(x)
    var = m.fit_pca(x)
    assert torch.allclose(m.pca_matrix.T @ m.pca_matrix, torch.eye(12), atol=1e-5)
    assert (var.diff() <= 1e-6).all()
    y = m.rotate(z)
    assert torch.allclose(m.unrotate(y), z, atol=1e-4)  # lossless before quantization
    per_channel = y.var(dim=(0, 2, 3))
    assert per_channel[:3].sum() > per_channel[-3:].sum()


def test_rate_estimate_matches_file_size_on_a_trained_model():
    """Real bytes vs -log2 p: the header and the coder's overhead are small once the density is fitted."""
    torch.manual_seed(0)
    m = FactorizedPrior(channels=16, latent_channels=24)
    # fit the density alone to this model's latents (a few hundred cheap steps)
    x = torch.nn.functional.avg_pool2d(torch.rand(4, 3, 256, 256), 9, 1, 4)
    with torch.no_grad():
        y = m.analysis(x)
        y = 3 * (y - y.mean()) / y.std()  # an untrained encoder's latent, scaled to a realistic spread
    from helpers.entropy import encode, fit_density

    fit_density(m.density, y, steps=300, lr=2e-2)

    y_hat = torch.round(y[:1])
    estimate = float(bits(m.density(y_hat)).detach())
    real = 8 * len(encode(y_hat[0].reshape(24, -1).long().numpy(), m.density.tables()))
    assert real == pytest.approx(estimate, rel=0.01)


def test_padding_roundtrip_shapes(model):
    model.eval()
    x = torch.rand(1, 3, 15, 17)
    xp, size = pad_to_multiple(x, model.stride)
    assert crop(model(xp).x_hat, size).shape == x.shape
