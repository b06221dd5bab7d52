"""fastmetric.torch: the embedding losses as autograd functions of CPU tensors."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastmetric.torch as ft  # noqa: E402
from fastmetric import losses  # noqa: E402

FUNCS = [
    (ft.contrastive_loss, losses.contrastive_loss, {}),
    (ft.contrastive_loss, losses.contrastive_loss, {"distance": "cosine", "pos_margin": 0.9, "neg_margin": 0.2}),
    (ft.triplet_margin_loss, losses.triplet_margin_loss, {"margin": 0.3}),
    (ft.triplet_margin_loss, losses.triplet_margin_loss, {"miner": "semihard", "miner_margin": 0.5, "margin": 0.4}),
    (ft.triplet_margin_loss, losses.triplet_margin_loss, {"miner": "batch_hard", "distance": "cosine"}),
    (ft.multi_similarity_loss, losses.multi_similarity_loss, {}),
    (ft.multi_similarity_loss, losses.multi_similarity_loss, {"distance": "euclidean", "beta": 5.0}),
    (ft.nca_loss, losses.nca_loss, {}),
]


def _data(n=12, d=4, seed=0, dtype=torch.float64):
    g = np.random.default_rng(seed)
    Z = torch.tensor(g.normal(size=(n, d)), dtype=dtype, requires_grad=True)
    y = torch.tensor(g.integers(0, 3, n))
    return Z, y


@pytest.mark.parametrize(("tf", "nf", "params"), FUNCS)
def test_gradcheck_float64(tf, nf, params):
    Z, y = _data()
    assert torch.autograd.gradcheck(lambda z: tf(z, y, **params), (Z,), eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("tf", "nf", "params"), FUNCS)
def test_same_as_numpy_api(tf, nf, params, dtype):
    Z, y = _data(n=20, d=6, seed=1, dtype=dtype)
    loss = tf(Z, y, **params)
    assert loss.dtype == dtype and loss.dim() == 0
    loss.backward()
    ref_loss, ref_G = nf(Z.detach().numpy(), y.numpy(), **params)
    assert loss.item() == pytest.approx(ref_loss, rel=1e-6)
    assert Z.grad.dtype == dtype
    np.testing.assert_allclose(Z.grad.numpy(), ref_G, rtol=1e-6, atol=1e-9)


def test_mlkr_and_grad_scaling():
    Z, _ = _data(seed=2)
    t = torch.linspace(0, 1, 12, dtype=torch.float64)
    loss = ft.mlkr_loss(Z, t)
    (3.0 * loss).backward()
    ref_loss, ref_G = losses.mlkr_loss(Z.detach().numpy(), t.numpy())
    assert loss.item() == pytest.approx(ref_loss)
    np.testing.assert_allclose(Z.grad.numpy(), 3.0 * ref_G, rtol=1e-12)


def test_training_step_chain_rule_and_progress():
    torch.manual_seed(0)
    g = np.random.default_rng(3)
    X = torch.tensor(g.normal(size=(64, 10)), dtype=torch.float32)
    y = torch.tensor(np.repeat(np.arange(4), 16))
    X = X + 2.0 * torch.nn.functional.one_hot(y, 10).float()  # learnable class structure
    model = torch.nn.Linear(10, 5, bias=False)
    loss_fn = ft.TripletMarginLoss(margin=0.2)
    # the chain rule through the layer: dloss/dW = G^T X
    loss = loss_fn(model(X), y)
    loss.backward()
    _, G = losses.triplet_margin_loss(model(X).detach().numpy(), y.numpy(), margin=0.2)
    np.testing.assert_allclose(model.weight.grad.numpy(), G.T @ X.numpy(), rtol=1e-4, atol=1e-6)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    first = loss.item()
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()
    assert loss_fn(model(X), y).item() < 0.8 * first
    assert "margin=0.2" in repr(loss_fn)


def test_modules():
    Z, y = _data(seed=4)
    for mod, f in (
        (ft.ContrastiveLoss(), ft.contrastive_loss),
        (ft.MultiSimilarityLoss(beta=10.0), None),
        (ft.NCALoss(), ft.nca_loss),
        (ft.TripletMarginLoss(miner="all"), None),
    ):
        out = mod(Z, y)
        assert out.dim() == 0
        if f is not None:
            assert out.item() == f(Z, y).item()
    assert ft.MLKRLoss()(Z, torch.arange(12.0, dtype=torch.float64)).item() > 0


def test_no_triplet_zero_loss_and_gradient():
    Z, _ = _data(n=6)
    loss = ft.triplet_margin_loss(Z, torch.arange(6), miner="semihard")
    loss.backward()
    assert loss.item() == 0.0 and not Z.grad.any()


def test_bad_input():
    Z, y = _data()
    with pytest.raises(ValueError, match="device"):
        ft.triplet_margin_loss(torch.empty(12, 4, device="meta"), y)
    with pytest.raises(ValueError, match="requires grad"):
        ft.contrastive_loss(Z, y.double().requires_grad_())
    with pytest.raises(ValueError, match="one entry per row"):
        ft.multi_similarity_loss(Z, y[:5])
    with pytest.raises(TypeError, match="float32 or float64"):
        ft.contrastive_loss(Z.detach().half(), y)
    with pytest.raises(TypeError, match="torch.Tensor"):
        ft.contrastive_loss(Z.detach().numpy(), y)
    with pytest.raises(ValueError, match="2-D"):
        ft.contrastive_loss(Z.detach()[0], y)
    with pytest.raises(ValueError, match="2 classes"):
        ft.triplet_margin_loss(Z, torch.zeros(12))
    with pytest.raises(ValueError, match="NaN"):
        ft.triplet_margin_loss(Z.detach() * float("nan"), y)
    with pytest.raises(ValueError, match="at least 2 rows"):
        ft.triplet_margin_loss(torch.zeros(0, 4), torch.zeros(0))
