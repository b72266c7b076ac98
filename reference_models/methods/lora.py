"""``lora``: Hugging Face peft LoRA injected into every attention ``qkv`` of a private backbone copy.

Checkpoint names are peft's parameter names without the adapter name, e.g.
``backbone.blocks.0.attn.qkv.lora_A.weight`` (peft itself says ``...lora_A.default.weight``).
"""

from __future__ import annotations

from typing import Any

from peft import LoraConfig, inject_adapter_in_model
from torch import nn

from reference_models.methods.base import AdaptedModel, feature_dim, private_copy
from reference_models.methods.registry import register_method

ADAPTER_NAME = "default"


class LoraModel(AdaptedModel):
    def tensor_name(self, parameter_name: str) -> str:
        return parameter_name.replace(f".{ADAPTER_NAME}.", ".")


@register_method("lora")
def build_lora(config: dict[str, Any], backbones: dict[str, nn.Module], k: int) -> AdaptedModel:
    vit = private_copy(backbones["backbone"])
    peft_config = LoraConfig(
        r=config["rank"], lora_alpha=config["alpha"], lora_dropout=config["dropout"],
        target_modules=["qkv"], bias="none",
    )
    vit = inject_adapter_in_model(peft_config, vit, adapter_name=ADAPTER_NAME)
    for name, param in vit.named_parameters():
        param.requires_grad_("lora_" in name)
    return LoraModel({"backbone": vit}, feature_dim(vit), k, frozen=False)
