"""The files the bed's hosts get by bind mount, made on the machine before any host starts.

One tiny task (public and hidden trees), one tiny backbone with a registry that names it by the
path the hosts see, a starter-kit checkpoint trained on it and the predictions that checkpoint
makes, and distinct random predictions archives for the many-submission tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.cluster.bed import ROOT

TASK = "tiny-gray"
SLEEP_SHIM = "sleep_passthrough.so"
BENCH = "tiny-bench"


@dataclass(frozen=True)
class Stage:
    root: Path
    checkpoint: Path
    predictions: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    def random_predictions(self, seed: int) -> bytes:
        from tests.leaderboard.conftest import predictions_zip

        return predictions_zip(self.data, BENCH, seed=seed)


def _sleep_shim(lib: Path) -> None:
    """Compile sleep_passthrough.c for the skewed-clock host (no compiler: that test skips)."""
    lib.mkdir(parents=True)
    cc = shutil.which("cc")
    if cc:
        source = Path(__file__).with_name("sleep_passthrough.c")
        subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(lib / SLEEP_SHIM), str(source)],
                       check=True, capture_output=True)


def build(root: Path) -> Stage:
    from reference_models.predict import write_predictions
    from reference_models.specs import register_backbone, unregister_backbone
    from reference_models.train import train_checkpoint
    from tests.reference_models.conftest import TINY, _make_backbone, make_task

    data = root / "data"
    make_task(data, TASK, channels=1, size=24)
    backbones = root / "backbones"
    backbones.mkdir(parents=True)
    spec = _make_backbone(backbones, "tiny-general", "general", 1, TINY)
    register_backbone(spec, replace=True)
    try:
        train_checkpoint(
            data, BENCH, [TASK], "adapter", out=root / "adapter.zip", epochs=1,
            backbones={"backbone": spec.id}, progress=False,
        )
        preds = root / "predictions.zip"
        write_predictions(root / "adapter.zip", data, preds, device="cpu")
    finally:
        unregister_backbone(spec.id)
    in_host = ROOT / "var" / "backbones" / Path(spec.weights).name
    entry = {
        "id": spec.id, "arch": spec.arch, "kwargs": spec.kwargs, "weights": str(in_host),
        "sha256": spec.sha256, "domain": spec.domain, "mean": list(spec.mean),
        "std": list(spec.std),
    }
    (backbones / "backbones.json").write_text(json.dumps({"backbones": [entry]}))
    _sleep_shim(root / "lib")
    payloads = root / "payloads"  # what the client host uploads in the load test
    payloads.mkdir()
    for made in (root / "adapter.zip", preds):
        shutil.copy(made, payloads / made.name)
    return Stage(root, root / "adapter.zip", preds)
