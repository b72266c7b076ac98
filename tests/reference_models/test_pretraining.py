"""The demo pre-training corpora, the class-token + mean-token pooling, and the LP-FT trainer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reference_models.specs import BackboneSpec, register_backbone, unregister_backbone
from tests.reference_models.conftest import TINY, roles_for

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("domain", ["general", "medical"])
def test_corpus_is_deterministic_with_finite_factors(domain: str) -> None:
    from reference_models.synthetic_pretrain import draw_chunks

    a = draw_chunks(domain, 40, 32, seed=5, chunk=16)
    b = draw_chunks(domain, 40, 32, seed=5, chunk=16)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.factors, b.factors)
    assert a.images.shape == (40, 32, 32, 3) and a.images.dtype == np.uint8
    assert a.factors.shape == (40, len(a.factor_names)) and np.isfinite(a.factors).all()
    assert set(np.unique(a.classes)) <= set(range(len(a.class_names)))
    # every factor varies, so every target carries information
    assert (a.factors.std(axis=0) > 0).all()


def test_medical_corpus_is_grey_and_general_is_colour() -> None:
    from reference_models.synthetic_pretrain import draw

    grey = draw("medical", 16, 32, seed=1).images.astype(int)
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    colour = draw("general", 16, 32, seed=1).images.astype(int)
    assert np.abs(colour[..., 0] - colour[..., 2]).mean() > 10


def test_unknown_domain_is_refused() -> None:
    from reference_models.synthetic_pretrain import draw

    with pytest.raises(ValueError, match="general or medical"):
        draw("xray", 4, 32, seed=0)


@pytest.fixture()
def pooled_backbone(tmp_path: Path) -> BackboneSpec:
    from reference_models.backbones import clear_cache, create_backbone, save_backbone

    spec = BackboneSpec("tiny-token-avg", "vit_tiny_patch16_224", TINY,
                        str(tmp_path / "tiny-token-avg.safetensors"), "general", pool="token+avg")
    sha = save_backbone(create_backbone(spec), spec.weights_path())
    spec = BackboneSpec(**{**spec.__dict__, "sha256": sha})
    register_backbone(spec, replace=True)
    yield spec
    unregister_backbone(spec.id)
    clear_cache()


@pytest.mark.parametrize("method", ["linear", "vpt_deep", "adapter", "lora", "moe_adapter"])
def test_token_and_mean_pooling_doubles_the_head_input(pooled_backbone: BackboneSpec,
                                                       method: str) -> None:
    from reference_models.backbones import load_backbone
    from reference_models.formulas import tunable_params
    from reference_models.methods import build, count_tunable, trainable_state_dict

    vit = load_backbone(pooled_backbone.id)
    model = build(method, {}, {"backbone": vit}, 3)
    x = torch.rand(2, 3, 32, 32)
    assert model.features(x).shape == (2, 2 * TINY["embed_dim"])
    assert trainable_state_dict(model)["head.weight"].shape == (3, 2 * TINY["embed_dim"])
    assert count_tunable(model) == tunable_params(method, {}, [pooled_backbone], 3)
    tokens = vit.norm(vit.blocks(vit.norm_pre(vit._pos_embed(vit.patch_embed(x)))))
    if method == "linear":
        want = torch.cat([tokens[:, 0], tokens[:, 1:].mean(1)], -1)
        assert torch.allclose(model.features(x), want, atol=1e-6)


def test_pool_must_be_known() -> None:
    with pytest.raises(ValueError, match="pool must be one of"):
        BackboneSpec.from_json({"id": "x", "arch": "a", "weights": "w", "domain": "general",
                                "pool": "max"})


def _toy(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.integers(0, 60, (n, 32, 32, 3)).astype(np.uint8)
    images[labels == 1, :16] += 150  # the top half is bright for class 1
    return images, labels


def test_lp_ft_starts_from_a_fitted_head_and_keeps_it_when_tuning_hurts(frozen: dict) -> None:
    from reference_models.inference import prepare_batch
    from reference_models.methods import build, trainable_state_dict
    from reference_models.training import FitConfig, evaluate_loss, fit_probe_then_tune

    device = torch.device("cpu")
    torch.manual_seed(0)
    model = build("adapter", {}, roles_for("adapter", frozen), 2)
    train, val = _toy(64, 1), _toy(32, 2)
    random_head = model.head.weight.detach().clone()
    probe = FitConfig(epochs=30, lr=5e-2, batch_size=32, progress=False)
    # An absurd learning rate: every tuning epoch is worse than the probe's head on val.
    ruin = FitConfig(epochs=2, lr=50.0, batch_size=32, progress=False, patience=5)
    result = fit_probe_then_tune(model, 32, "binary", train, val, ruin, device, probe=probe)
    assert result.best_epoch == -1
    assert not torch.equal(model.head.weight, random_head)
    to_input = lambda b: prepare_batch(b, 32, device)  # noqa: E731
    kept = evaluate_loss(model, val[0], val[1], "binary", to_input, device)
    assert kept == pytest.approx(result.best_val_loss, rel=1e-5)
    assert set(trainable_state_dict(model)) >= {"head.weight", "head.bias"}


@pytest.mark.parametrize("label_type", ["multiclass", "multilabel"])
def test_probe_fits_features_on_any_scale_and_picks_l2_on_val(label_type: str) -> None:
    from reference_models.probe import L2_GRID, fit_probe
    from reference_models.training import loss_fn

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (3, 8))

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 3, n)
        x = (centres[y] + 0.3 * rng.normal(0, 1, (n, 8))) * 1000.0 + 50.0  # far from standardised
        labels = np.eye(3)[y] if label_type == "multilabel" else y
        return x.astype(np.float32), labels

    (xt, yt), (xv, yv) = draw(120), draw(60)
    head = torch.nn.Linear(8, 3)
    criterion = loss_fn(label_type)
    best, losses = fit_probe(head, (xt, yt), (xv, yv), lambda lo, y: criterion(lo.float(), y))
    assert len(losses) == len(L2_GRID) and best == min(losses)
    with torch.no_grad():
        logits = head(torch.from_numpy(xv))
    truth = yv.argmax(1) if label_type == "multilabel" else yv
    assert (logits.argmax(1).numpy() == truth).mean() > 0.95
    assert float(criterion(logits, torch.from_numpy(yv))) == pytest.approx(best, rel=1e-3)
