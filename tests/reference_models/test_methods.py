"""Every registered method against the one contract (tiny backbones built in fixtures)."""

from __future__ import annotations

import pytest
import torch

from reference_models.formulas import tunable_params
from reference_models.methods import (
    METHODS,
    build,
    count_tunable,
    load_trainable,
    trainable_parameters,
    trainable_state_dict,
)
from reference_models.methods.base import embed, pool
from reference_models.specs import METHOD_NAMES, CheckpointInvalid, get_method_spec
from tests.reference_models.conftest import roles_for

K = 3
SMALL = {"vpt_shallow": {"num_prompts": 3}, "vpt_deep": {"num_prompts": 3},
         "adapter": {"bottleneck": 4}, "lora": {"rank": 2},
         "moe_adapter": {"num_experts": 3, "bottleneck": 4, "top_k": 2},
         "gmoe_adapter": {"num_experts": 3, "bottleneck": 4, "top_k": 2}}
NAME_RULES = {
    "linear": lambda n: n.startswith("head."),
    "full": lambda n: n.startswith(("head.", "backbone.")),
    "bitfit": lambda n: n.startswith("head.") or (n.startswith("backbone.") and n.endswith(".bias")),
    "vpt_shallow": lambda n: n.startswith("head.") or n == "prompts",
    "vpt_deep": lambda n: n.startswith("head.") or n == "prompts",
    "adapter": lambda n: n.startswith(("head.", "adapters.")),
    "lora": lambda n: n.startswith("head.") or (".lora_" in n and ".default." not in n),
    "moe_adapter": lambda n: n.startswith(("head.", "mixtures.")),
    "gmoe_adapter": lambda n: n.startswith(("head.", "mixtures.")),
}


def images(n: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def make(method: str, frozen: dict, **config: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return build(method, {**SMALL.get(method, {}), **config}, roles_for(method, frozen), K)


def test_registry_matches_catalog() -> None:
    assert sorted(METHODS.names()) == sorted(METHOD_NAMES)
    assert len(METHOD_NAMES) == 9


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_forward_shape_and_trainable_tensors(method: str, frozen: dict, tiny_backbones: dict) -> None:
    model = make(method, frozen)
    assert model(images()).shape == (4, K)
    names = trainable_parameters(model)
    assert names and all(NAME_RULES[method](n) for n in names), sorted(names)
    specs = [tiny_backbones[r] if r != "backbone" else tiny_backbones["general"]
             for r in get_method_spec(method).roles]
    assert count_tunable(model) == tunable_params(method, SMALL.get(method), specs, K)
    frozen_count = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    if method != "full":
        assert frozen_count > 0


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_few_steps_reduce_training_loss_and_leave_backbones_alone(method: str, frozen: dict) -> None:
    before = {r: {k: v.clone() for k, v in m.state_dict().items()} for r, m in frozen.items()}
    model = make(method, frozen, **({"residual_init": 0.1} if "moe" in method else {}))
    x, y = images(16, seed=1), torch.arange(16) % K
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    model.train()
    losses = []
    for _ in range(10):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    for role, module in frozen.items():
        assert not any(p.requires_grad for p in module.parameters())
        for k, v in module.state_dict().items():
            assert torch.equal(v, before[role][k]), f"{method} changed {role}.{k}"


@pytest.mark.parametrize("method", [m for m in METHOD_NAMES if not m.startswith("vpt")])
def test_untrained_adaptation_reproduces_frozen_features(method: str, frozen: dict) -> None:
    model = make(method, frozen, **({"residual_init": 0.0} if "moe" in method else {})).eval()
    x = images()
    with torch.no_grad():
        got = model.features(x)
        parts = []
        for role in model.roles:
            vit = frozen["general"] if role == "backbone" else frozen[role]
            parts.append(pool(vit, vit.blocks(embed(vit, model.norms[role](x)))))
        assert torch.allclose(got, torch.cat(parts, dim=-1), atol=1e-6)


def test_vpt_changes_features(frozen: dict) -> None:
    model = make("vpt_deep", frozen).eval()
    vit = frozen["general"]
    x = images()
    with torch.no_grad():
        plain = pool(vit, vit.blocks(embed(vit, model.norms["backbone"](x))))
        assert not torch.allclose(model.features(x), plain, atol=1e-4)


def test_strict_loader_names_the_tensor(frozen: dict) -> None:
    model = make("adapter", frozen)
    state = trainable_state_dict(model)
    load_trainable(model, state)  # exact round trip works
    cases = [
        ({k: v for k, v in state.items() if k != "head.bias"}, "missing tensor.*head.bias"),
        ({**state, "adapters.9.up.weight": state["head.bias"]}, "unexpected tensor.*adapters.9"),
        ({**state, "head.bias": torch.zeros(K + 1)}, "head.bias.*shape"),
        ({**state, "head.bias": torch.zeros(K, dtype=torch.int32)}, "head.bias.*dtype"),
    ]
    for bad, needle in cases:
        with pytest.raises(CheckpointInvalid, match=needle):
            load_trainable(make("adapter", frozen), bad)


def test_build_refuses_wrong_roles_and_configs(frozen: dict) -> None:
    with pytest.raises(CheckpointInvalid, match="general, medical"):
        build("gmoe_adapter", {}, {"backbone": frozen["general"]}, K)
    with pytest.raises(CheckpointInvalid, match="num_experts"):
        build("moe_adapter", {"num_experts": 10**9}, {"backbone": frozen["general"]}, K)


def test_lora_uses_peft_on_qkv(frozen: dict) -> None:
    from peft.tuners.lora import Linear as LoraLinear

    model = make("lora", frozen)
    qkv = [m for n, m in model.named_modules() if n.endswith("attn.qkv")]
    assert qkv and all(isinstance(m, LoraLinear) for m in qkv)
    assert not isinstance(frozen["general"].blocks[0].attn.qkv, LoraLinear)


# --- gmoe_adapter specifics ----------------------------------------------------------------------


def gmoe(frozen: dict, **config: object) -> torch.nn.Module:
    model = make("gmoe_adapter", frozen, **config)
    with torch.no_grad():  # a routed, non-trivial mixture (as after training)
        for mixture in model.mixtures:
            mixture.gate.weight.normal_(std=1.0)
            mixture.residual.fill_(0.5)
    return model.eval()


def gate_weights_of(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    inputs = model.inputs(x)
    streams = [embed(model.backbone_of(r), inputs[r]) for r in model.roles]
    streams = [model.backbone_of(r).blocks[0](s) for r, s in zip(model.roles, streams, strict=True)]
    return model.mixtures[0].gate_weights(model.mixtures[0].norm(torch.cat(streams, -1)))


@pytest.mark.parametrize("top_k", [0, 1, 2])
def test_gmoe_gate_sums_to_one_and_routes_to_k_experts(frozen: dict, top_k: int) -> None:
    model = gmoe(frozen, top_k=top_k)
    with torch.no_grad():
        weights = gate_weights_of(model, images())
    assert torch.allclose(weights.sum(-1), torch.ones(weights.shape[:-1]), atol=1e-6)
    nonzero = (weights > 0).sum(-1)
    expected = top_k if top_k else SMALL["gmoe_adapter"]["num_experts"]
    assert bool((nonzero == expected).all())


def test_gmoe_uses_both_streams(frozen: dict) -> None:
    model = gmoe(frozen)
    x = images()
    with torch.no_grad():
        base = model(x)
        for role in ("general", "medical"):
            vit = model.backbone_of(role)
            saved = vit.blocks[0].mlp.fc2.weight.clone()
            vit.blocks[0].mlp.fc2.weight.zero_()  # silence one stream's contribution
            changed = model(x)
            vit.blocks[0].mlp.fc2.weight.copy_(saved)
            assert not torch.allclose(base, changed, atol=1e-5), role
        # zeroing one stream's tokens into the mixture also changes the other stream's class token
        mixture = model.mixtures[0]
        streams = [torch.randn(2, 17, 32), torch.randn(2, 17, 48)]
        out = mixture(streams)
        out_zeroed = mixture([streams[0], torch.zeros_like(streams[1])])
        assert not torch.allclose(out[0], out_zeroed[0], atol=1e-5)


def test_gmoe_tunable_count_matches_documented_formula(frozen: dict, tiny_backbones: dict) -> None:
    # L[3D + E(D+1) + E(2Dr + r + D)] + K(D+1) with D = 32 + 48, L = 2, E = 3, r = 4, K = 3
    d, depth, e, r = 80, 2, 3, 4
    expected = depth * (3 * d + e * (d + 1) + e * (2 * d * r + r + d)) + K * (d + 1)
    assert count_tunable(make("gmoe_adapter", frozen)) == expected
