"""The method registry module: registration rules and "did you mean" errors for unknown names."""

from __future__ import annotations

import subprocess
import sys

import pytest

from datasets.registry import RegistryError
from reference_models.methods import build
from reference_models.methods.registry import METHODS, get_builder, register_method
from reference_models.specs import METHOD_NAMES, CheckpointInvalid


def test_every_catalog_method_has_exactly_one_builder() -> None:
    assert sorted(METHODS.names()) == sorted(METHOD_NAMES)
    assert all(callable(get_builder(name)) for name in METHOD_NAMES)


def test_unknown_builder_suggests_the_close_name() -> None:
    with pytest.raises(CheckpointInvalid, match=r"did you mean 'gmoe_adapter' or") as caught:
        get_builder("gmoe_adaptor")
    assert "known: adapter, bitfit" in str(caught.value)


def test_build_with_a_misspelt_method_suggests_the_close_name() -> None:
    with pytest.raises(CheckpointInvalid, match=r"did you mean 'lora'\?"):
        build("lorra", {}, {}, 3)


def test_registering_a_name_without_a_catalog_entry_is_refused() -> None:
    with pytest.raises(CheckpointInvalid, match=r"unknown method 'vpt_deeep'; did you mean 'vpt_deep'"):
        register_method("vpt_deeep")
    assert "vpt_deeep" not in METHODS


def test_registering_a_method_twice_is_refused() -> None:
    with pytest.raises(RegistryError, match="method 'linear' is already registered"):
        register_method("linear")(get_builder("linear"))
    assert METHODS.get("linear").__module__ == "reference_models.methods.linear"


@pytest.mark.parametrize("module", ["registry", "moe"])
def test_each_method_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    # The builders register through the registry module, never through the package's __init__,
    # so any of them can be the first import without a circular-import failure.
    code = (f"import reference_models.methods.{module}\n"
            "from reference_models.methods.registry import METHODS\n"
            "print(len(METHODS))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(len(METHOD_NAMES))
