"""The layer rules of docs/architecture.md, checked on the code's own imports.

``leaderboard → evaluator → reference_models → datasets``: a package imports only itself and the
layers below it; no Django (nor DRF, Celery) below ``leaderboard``; the web tier (``leaderboard``,
``medvtab``) runs no torch-family import when its modules are imported, so the web image and the CPU
worker need no torch; ``shared_task`` (and ``app.task``) only in the house decorator; the CI client
is the standard library alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.layers import Tree, top_package

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("datasets", "reference_models", "evaluator", "leaderboard", "medvtab", "medvtab_client")

# What each first-party package may import of the others.
ALLOWED: dict[str, set[str]] = {
    "datasets": {"datasets"},
    "reference_models": {"reference_models", "datasets"},
    "evaluator": {"evaluator", "reference_models", "datasets"},
    "leaderboard": {"leaderboard", "evaluator", "reference_models", "datasets", "medvtab"},
    "medvtab": {"medvtab", "leaderboard", "evaluator", "reference_models", "datasets"},
    "medvtab_client": {"medvtab_client"},
}
PURE = ("datasets", "reference_models", "evaluator")
FRAMEWORKS = {"django", "rest_framework", "drf_spectacular", "celery", "kombu", "storages"}
TORCH_FAMILY = {"torch", "torchvision", "timm", "peft", "safetensors.torch"}
WEB_TIER = ("leaderboard", "medvtab")
HOUSE_DECORATOR = "leaderboard.tasks.base"
# Run only by the checkpoint (gpu-queue) worker, which has torch; everything else imports them lazily,
# which the torch rule checks: a module-level import of one of them would bring torch into its chain.
GPU_WORKER_ONLY = {"leaderboard.checkpoint_eval"}


# Inside the Django app: models know nothing above them; services no views, API or forms, and tasks
# only lazily, to enqueue one (tasks call services, so a module-level import would be a circle); the
# API uses services, not the HTML views. Import cycles are refused separately.
APP_FORBIDDEN: dict[str, set[str]] = {
    "leaderboard.models": {"leaderboard.services", "leaderboard.tasks", "leaderboard.views",
                           "leaderboard.api", "leaderboard.forms"},
    "leaderboard.services": {"leaderboard.views", "leaderboard.api", "leaderboard.forms"},
    "leaderboard.api": {"leaderboard.views", "leaderboard.forms"},
}
APP_FORBIDDEN_AT_IMPORT: dict[str, set[str]] = {"leaderboard.services": {"leaderboard.tasks"}}


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(f"{prefix}.")


def app_violations(tree: Tree) -> list[str]:
    found = set()
    for module in tree.modules.values():
        for imp in module.imports:
            target = tree.first_party(imp.module) or ""
            rules = [APP_FORBIDDEN] + ([APP_FORBIDDEN_AT_IMPORT] if imp.top_level else [])
            if imp.type_only or not any(
                _within(module.name, layer) and any(_within(target, f) for f in forbidden)
                for rule in rules
                for layer, forbidden in rule.items()
            ):
                continue
            found.add(f"{module.path}:{imp.line} {module.name} imports {target}")
    return sorted(found)


def layer_violations(tree: Tree) -> list[str]:
    found: dict[str, str] = {}  # one per import statement, naming its submodule if any
    for module in tree.modules.values():
        own = top_package(module.name)
        for imp in module.imports:
            target = tree.first_party(imp.module)
            if target and top_package(target) not in ALLOWED[own]:
                where = f"{module.path}:{imp.line}"
                found[where] = f"{where} {module.name} imports {target}"  # the deepest name
    return list(found.values())


def framework_violations(tree: Tree, packages: tuple[str, ...]) -> list[str]:
    return [
        f"{m.path}:{imp.line} {m.name} imports {imp.module}"
        for m in tree.modules.values()
        if top_package(m.name) in packages
        for imp in m.imports
        if top_package(imp.module) in FRAMEWORKS
    ]


def torch_on_import(tree: Tree, packages: tuple[str, ...]) -> list[str]:
    found = []
    for name in sorted(tree.modules):
        if top_package(name) not in packages or name in GPU_WORKER_ONLY:
            continue
        for loaded, chain in tree.loaded_on_import(name).items():
            if loaded in TORCH_FAMILY or top_package(loaded) in TORCH_FAMILY - {"safetensors.torch"}:
                found.append(" → ".join(chain))
                break
    return found


def raw_task_decorators(tree: Tree) -> list[str]:
    found = []
    for module in tree.modules.values():
        if module.name == HOUSE_DECORATOR:
            continue
        if "shared_task" in module.names:
            found.append(f"{module.path}: uses shared_task")
        source = module.path.read_text(encoding="utf-8")
        if "@app.task" in source or "@celery_app.task" in source:
            found.append(f"{module.path}: decorates with the Celery app's task()")
    return found


def non_stdlib(tree: Tree, package: str) -> list[str]:
    return [
        f"{m.path}:{imp.line} {m.name} imports {imp.module}"
        for m in tree.modules.values()
        if top_package(m.name) == package
        for imp in m.imports
        if top_package(imp.module) not in sys.stdlib_module_names
        and top_package(imp.module) != package
        and imp.module != "__future__"
    ]


@pytest.fixture(scope="module")
def tree() -> Tree:
    return Tree(REPO, PACKAGES)


def test_packages_import_only_the_layers_below(tree: Tree) -> None:
    assert layer_violations(tree) == []


def test_app_layers(tree: Tree) -> None:
    assert app_violations(tree) == []


def test_no_import_cycles(tree: Tree) -> None:
    assert tree.cycles() == []


@pytest.mark.parametrize("package", PURE)
def test_no_framework_below_leaderboard(tree: Tree, package: str) -> None:
    assert framework_violations(tree, (package,)) == []


def test_web_tier_imports_no_torch_at_module_level(tree: Tree) -> None:
    assert torch_on_import(tree, WEB_TIER) == []


def test_shared_task_only_in_the_house_decorator(tree: Tree) -> None:
    assert "shared_task" in tree.modules[HOUSE_DECORATOR].names
    assert raw_task_decorators(tree) == []


def test_client_is_standard_library_only(tree: Tree) -> None:
    assert non_stdlib(tree, "medvtab_client") == []


# The checker itself, on a small tree that breaks every rule once.
def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture
def broken(tmp_path: Path) -> Tree:
    _write(tmp_path, {
        "datasets/__init__.py": "",
        "datasets/io.py": "from ..evaluator import scoring\n",
        "evaluator/__init__.py": "",
        "evaluator/scoring.py": "import django.db\n",
        "reference_models/__init__.py": "",
        "reference_models/nets.py": "import timm\n",
        "reference_models/lazy.py": "def f():\n    import torch\n",
        "leaderboard/__init__.py": "",
        "leaderboard/ok.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n"
        "from reference_models import lazy\n",
        "leaderboard/bad.py": "from reference_models import nets\n",
        "leaderboard/tasks.py": "from celery import shared_task\n@shared_task\ndef t(): ...\n",
        "leaderboard/services/__init__.py": "",
        "leaderboard/services/a.py": "def f():\n    from leaderboard.services import b\n"
        "    from leaderboard import tasks\n",
        "leaderboard/services/b.py": "from leaderboard.services import a\nfrom leaderboard import tasks\n",
        "medvtab/__init__.py": "",
        "medvtab_client/__init__.py": "import requests\n",
    })
    return Tree(tmp_path, PACKAGES)


def test_checker_finds_each_kind_of_violation(broken: Tree) -> None:
    assert [v.split(" ", 1)[1] for v in layer_violations(broken)] == [
        "datasets.io imports evaluator.scoring"
    ]
    assert len(framework_violations(broken, PURE)) == 1
    assert torch_on_import(broken, WEB_TIER) == ["leaderboard.bad → reference_models.nets → timm"]
    assert len(raw_task_decorators(broken)) == 1
    assert len(non_stdlib(broken, "medvtab_client")) == 1
    assert [v.split(" ", 1)[1] for v in app_violations(broken)] == [
        "leaderboard.services.b imports leaderboard.tasks"
    ]
    assert broken.cycles() == [["leaderboard.services.a", "leaderboard.services.b"]]
