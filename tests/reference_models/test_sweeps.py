"""The sweep table: every entry valid, names unique and carrying their config, sizes spread."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from reference_models.formulas import tunable_params
from reference_models.recipes import FAMILY_RECIPES, Recipe, recipe_for
from reference_models.specs import (
    METHOD_SPECS,
    CheckpointInvalid,
    get_backbone_spec,
    normalise_config,
)
from reference_models.sweeps import DEMO_BACKBONES, PROTOCOLS, SWEEPS, SweepEntry, sweep

ENTRIES = sweep(PROTOCOLS)
SWEPT = ("vpt_deep", "lora", "adapter", "gmoe_adapter")


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_every_entry_validates_and_its_name_carries_its_config(entry: SweepEntry) -> None:
    assert normalise_config(entry.method, dict(entry.config)) == entry.method_config
    assert entry.name.startswith(entry.method)
    assert entry.name.endswith(f"({entry.pretraining}, {entry.protocol})")
    config = entry.method_config
    for letter, key in (("p", "num_prompts"), ("E", "num_experts")):
        if key in config:
            assert f"{letter}={config[key]}" in entry.name
    for key in ("rank", "bottleneck"):
        if key in config:
            assert f"r={config[key]}" in entry.name
    if not METHOD_SPECS[entry.method].fields:
        assert entry.name == f"{entry.method} ({entry.pretraining}, {entry.protocol})"
    assert re.fullmatch(r"[a-z0-9_-]+", entry.slug)


def test_names_and_file_slugs_are_unique() -> None:
    assert len({e.name for e in ENTRIES}) == len(ENTRIES)
    assert len({e.slug for e in ENTRIES}) == len(ENTRIES)


def test_examples_of_the_naming_scheme() -> None:
    names = {e.name for e in ENTRIES}
    assert {"linear (general, 1k)", "lora r=8 (medical, full)", "vpt_deep p=10 (medical, full)",
            "adapter r=16 (general, 1k)", "gmoe_adapter E=4 r=16 (both, 1k)"} <= names


def test_every_method_on_each_demo_backbone_and_gmoe_on_both() -> None:
    for protocol in PROTOCOLS:
        mine = [e for e in ENTRIES if e.protocol == protocol]
        for method, spec in METHOD_SPECS.items():
            seen = {e.pretraining for e in mine if e.method == method}
            assert seen == ({"both"} if len(spec.roles) == 2 else {"general", "medical"}), method
        gmoe = [e for e in mine if e.method == "gmoe_adapter"]
        assert all(dict(e.backbones) == DEMO_BACKBONES for e in gmoe)
    assert 25 <= len(ENTRIES) // len(PROTOCOLS) <= 35  # the 1k board must seed in minutes


@pytest.mark.parametrize("method", SWEPT)
def test_swept_families_have_three_sizes_spanning_over_an_order_of_magnitude(method: str) -> None:
    by_board: dict[tuple[str, str], list[int]] = defaultdict(list)
    for e in ENTRIES:
        if e.method == method:
            specs = [get_backbone_spec(b) for b in e.backbones.values()]
            by_board[(e.pretraining, e.protocol)].append(
                tunable_params(e.method, e.method_config, specs, num_classes=5))
    expected_boards = 2 if method == "gmoe_adapter" else 4
    assert len(by_board) == expected_boards
    for sizes in by_board.values():
        assert len(set(sizes)) >= 3
        assert max(sizes) / min(sizes) >= 10  # over an order of magnitude at the demo sizes
    defaults = METHOD_SPECS[method].defaults()
    assert any(all(defaults[k] == v for k, v in c.items()) for c in SWEEPS[method])


def test_lora_alpha_follows_the_rank() -> None:
    for e in ENTRIES:
        if e.method == "lora":
            assert e.method_config["alpha"] == e.method_config["rank"]


def test_bad_entries_are_refused() -> None:
    with pytest.raises(CheckpointInvalid, match="out of range"):
        SweepEntry("lora", {"rank": 0}, {"backbone": "demo-vit-general"})
    with pytest.raises(ValueError, match="role"):
        SweepEntry("gmoe_adapter", {}, {"backbone": "demo-vit-general"})
    with pytest.raises(ValueError, match="protocol"):
        SweepEntry("linear", {}, {"backbone": "demo-vit-general"}, "5k")
    with pytest.raises(ValueError, match="unknown method"):
        sweep(["1k"], ["lorax"])


def test_sweep_keeps_protocol_order_and_filters_methods() -> None:
    entries = sweep(["1k", "full"], ["linear"])
    assert [e.name for e in entries] == ["linear (general, 1k)", "linear (medical, 1k)",
                                         "linear (general, full)", "linear (medical, full)"]


def test_every_method_has_a_recipe_and_overrides_apply() -> None:
    for method, spec in METHOD_SPECS.items():
        assert recipe_for(method) == FAMILY_RECIPES[spec.family]
    recipe = recipe_for("lora").overridden(epochs=1)
    assert recipe.epochs == 1 and recipe.lr == recipe_for("lora").lr
    with pytest.raises(ValueError):
        Recipe(epochs=0, lr=1e-3)
    with pytest.raises(ValueError):
        Recipe(epochs=1, lr=1e-3, warmup_fraction=1.0)
    with pytest.raises(CheckpointInvalid):
        recipe_for("lorax")
