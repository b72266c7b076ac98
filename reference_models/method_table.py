"""Print the tunable-parameter table of docs/methods.md (ViT-B/16 at 224 px, default configs).

    python -m reference_models.method_table [--classes K]

Counts come from models actually built with random ViT-B/16 weights (nothing is downloaded) and
are checked against :mod:`reference_models.formulas`.
"""

from __future__ import annotations

import argparse

import timm

from reference_models.formulas import FORMULAS, tunable_params
from reference_models.methods import build, count_tunable
from reference_models.specs import METHOD_SPECS, BackboneSpec

VIT_B16 = BackboneSpec("vit-b16", "vit_base_patch16_224", {"img_size": 224}, "unused", "general")


def rows(num_classes: int) -> list[tuple[str, str, int, str]]:
    vit = timm.create_model(VIT_B16.arch, pretrained=False, num_classes=0, **VIT_B16.kwargs)
    for p in vit.parameters():
        p.requires_grad_(False)
    out = []
    for name, spec in METHOD_SPECS.items():
        backbones = {role: vit for role in spec.roles}
        count = count_tunable(build(name, {}, backbones, num_classes))
        formula = tunable_params(name, {}, [VIT_B16] * len(spec.roles), num_classes)
        if count != formula:
            raise AssertionError(f"{name}: built model has {count}, formula says {formula}")
        out.append((name, spec.family, count, FORMULAS[name]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=10)
    args = parser.parse_args(argv)
    print("| method | family | tunable parameters | formula |")
    print("|---|---|---:|---|")
    for name, family, count, formula in rows(args.classes):
        print(f"| `{name}` | {family} | {count:,} | {formula} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
