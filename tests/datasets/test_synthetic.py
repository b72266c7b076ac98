"""The synthetic Med-VTAB-mini generator: coverage, determinism, split rules, sizes, OOD difficulty."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from datasets.bundle import SPLITS, BundleError, list_tasks, load_split, task_dir
from datasets.registry import RegistryError
from datasets.synthetic import BENCHMARK_SLUG, TASKS, build_benchmark, derive_seed
from datasets.synthetic.build import plan_splits
from datasets.synthetic.cohort import make_cohort
from datasets.synthetic.spec import rng_for
from datasets.validate import validate_task

REPO = Path(__file__).resolve().parents[2]
SMALL = {"scale": 0.05, "image_size": 16}
TEST = ("test_id", "test_ood")


def _file_digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.npy"))
    }


@pytest.fixture(scope="module")
def small_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mini")
    build_benchmark(root, seed=0, **SMALL)
    return root


def test_registry_covers_modalities_label_types_and_channels() -> None:
    specs = [TASKS.get(name) for name in TASKS]
    assert len(specs) >= 6
    assert {"colour", "xray", "ct-oct"} <= {s.modality for s in specs}
    assert {"binary", "multiclass", "multilabel"} <= {s.label_type for s in specs}
    assert {s.channels for s in specs} == {1, 3}
    hidden = [s.slug for s in specs if not s.test_images_public]
    assert len(hidden) == 1, hidden


def test_every_task_is_written_with_synthetic_metadata(small_root: Path) -> None:
    metas = {m.slug: m for m in list_tasks(small_root, BENCHMARK_SLUG)}
    assert set(metas) == set(TASKS)
    for slug, meta in metas.items():
        spec = TASKS.get(slug)
        assert meta.synthetic is True
        assert meta.source == "synthetic (Med-VTAB-mini generator, seed 0)"
        assert "synthetic" in meta.description.lower()
        assert meta.license and meta.citation
        assert (meta.ood_level, meta.version) == ("patient", "1")
        want_metric = "accuracy" if spec.label_type in ("multiclass", "ordinal") else "auroc"
        assert meta.primary_metric == want_metric
        assert (meta.image_size, meta.channels, meta.classes) == (16, spec.channels, spec.classes)
        train = load_split(small_root, meta, "train")
        assert train.images is not None
        assert train.images.shape[1:] == (16, 16, spec.channels)
        assert train.images.dtype == np.uint8


def test_split_rules_and_protocol_hold_for_every_task(small_root: Path) -> None:
    for slug in TASKS:
        validate_task(small_root, BENCHMARK_SLUG, slug)  # raises BundleError listing violations


def test_patients_have_several_images_each(small_root: Path) -> None:
    for meta in list_tasks(small_root, BENCHMARK_SLUG):
        ids = np.concatenate([
            load_split(small_root, meta, s, hidden=True, images=False).patient_ids
            for s in SPLITS
        ])
        _, per_patient = np.unique(ids, return_counts=True)
        low, high = TASKS.get(meta.slug).images_per_patient
        assert per_patient.min() >= low and per_patient.max() <= high, meta.slug


def test_hidden_test_images_stay_out_of_the_public_tree(small_root: Path) -> None:
    for meta in list_tasks(small_root, BENCHMARK_SLUG):
        public = task_dir(small_root, "public", BENCHMARK_SLUG, meta.slug)
        for split in ("test_id", "test_ood"):
            assert not (public / split / "labels.npy").exists()
            assert (public / split / "images.npy").exists() == meta.test_images_public
            if not meta.test_images_public:
                with pytest.raises(BundleError, match="hidden"):
                    load_split(small_root, meta, split)
                assert len(load_split(small_root, meta, split, hidden=True)) > 0


def test_same_seed_is_byte_identical_and_other_seed_differs(
    small_root: Path, tmp_path: Path
) -> None:
    tasks = ["derm-synth", "cxr-synth"]
    build_benchmark(tmp_path / "again", seed=0, tasks=tasks, **SMALL)
    build_benchmark(tmp_path / "other", seed=1, tasks=tasks, **SMALL)
    again = _file_digests(tmp_path / "again")
    reference = {k: v for k, v in _file_digests(small_root).items() if k in again}
    assert again and again == reference
    other = _file_digests(tmp_path / "other")
    images = [k for k in again if k.endswith("images.npy")]
    assert images and all(other[k] != again[k] for k in images)


def test_existing_task_is_skipped_unless_forced(tmp_path: Path) -> None:
    kwargs = {"seed": 0, "tasks": ["bone-xray-synth"], **SMALL}
    build_benchmark(tmp_path, **kwargs)
    images = task_dir(tmp_path, "public", BENCHMARK_SLUG, "bone-xray-synth") / "train/images.npy"
    os.utime(images, (1, 1))
    build_benchmark(tmp_path, **kwargs)
    assert images.stat().st_mtime == 1  # left alone: task.json already matched
    build_benchmark(tmp_path, **kwargs, force=True)
    assert images.stat().st_mtime != 1
    build_benchmark(tmp_path, **{**kwargs, "seed": 5})
    task_json = images.parent.parent / "task.json"
    assert "seed 5" in json.loads(task_json.read_text())["source"]


def test_image_size_progress_and_unknown_task(tmp_path: Path) -> None:
    messages: list[str] = []
    metas = build_benchmark(tmp_path, scale=0.05, image_size=24, tasks=["fundus-synth"],
                            progress=messages.append)
    assert [m.slug for m in metas] == ["fundus-synth"]
    assert len(messages) == 1 and "fundus-synth" in messages[0]
    train = load_split(tmp_path, metas[0], "train")
    assert train.images is not None and train.images.shape[1:] == (24, 24, 3)
    with pytest.raises(RegistryError, match="did you mean 'oct-synth'"):
        build_benchmark(tmp_path, tasks=["oct-synt"])


def test_seed_derivation_does_not_depend_on_python_hash_salt() -> None:
    code = "from datasets.synthetic import derive_seed; print(derive_seed(7, 'derm-synth'))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": salt},
        ).stdout.strip()
        for salt in ("1", "2")
    }
    assert outputs == {str(derive_seed(7, "derm-synth"))}
    assert derive_seed(7, "derm-synth") != derive_seed(8, "derm-synth")


@pytest.mark.parametrize("slug", sorted(TASKS))
def test_full_scale_sizes_meet_the_minimums(slug: str) -> None:
    # Patients, labels and splits are cheap: check the scale=1 sizes without rendering pixels.
    spec = TASKS.get(slug)
    cohort = make_cohort(spec, rng_for(0, slug, "cohort"), 1.0)
    sizes = {s: len(idx) for s, idx in plan_splits(spec, cohort, 0).items()}
    minimum = {"train": 1000, "val": 200, "test_id": 500, "test_ood": 500}
    assert all(minimum[s] <= sizes[s] <= 2 * minimum[s] for s in minimum), sizes
    assert 1200 <= sizes["train"] <= 1700, sizes


def _features(images: np.ndarray, cells: int = 8) -> np.ndarray:
    n, size = images.shape[0], images.shape[1]
    step = size // cells
    pooled = images.reshape(n, cells, step, cells, step, -1).mean(axis=(2, 4))
    return pooled.reshape(n, -1) / 255.0


def _probe(root: Path, slug: str) -> tuple[float, float, float]:
    """Train logistic regression on train pixels; score (test_id, test_ood, chance)."""
    meta = next(m for m in list_tasks(root, BENCHMARK_SLUG) if m.slug == slug)
    data = {s: load_split(root, meta, s, hidden=True) for s in ("train", "test_id", "test_ood")}
    feats = {s: _features(np.asarray(d.images)) for s, d in data.items()}
    mean, std = feats["train"].mean(0), feats["train"].std(0) + 1e-6
    x = {s: (f - mean) / std for s, f in feats.items()}
    y = {s: np.asarray(d.labels) for s, d in data.items()}
    if meta.label_type == "multilabel":  # mean AUROC over labels, as the primary metric
        scores: dict[str, list[float]] = {s: [] for s in TEST}
        for k in range(meta.num_classes):
            model = LogisticRegression(C=0.1, max_iter=500).fit(x["train"], y["train"][:, k])
            for s in scores:
                scores[s].append(roc_auc_score(y[s][:, k], model.predict_proba(x[s])[:, 1]))
        return float(np.mean(scores["test_id"])), float(np.mean(scores["test_ood"])), 0.5
    model = LogisticRegression(C=0.1, max_iter=500).fit(x["train"], y["train"])
    if meta.label_type == "binary":
        id_auc, ood_auc = (roc_auc_score(y[s], model.predict_proba(x[s])[:, 1]) for s in TEST)
        return float(id_auc), float(ood_auc), 0.5
    chance = float(np.bincount(y["train"]).max() / len(y["train"]))
    id_acc, ood_acc = (float((model.predict(x[s]) == y[s]).mean()) for s in TEST)
    return id_acc, ood_acc, chance


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_unseen_patients_are_harder_than_unseen_images(tmp_path: Path) -> None:
    build_benchmark(tmp_path, seed=0, scale=0.4, image_size=32)
    results = {slug: _probe(tmp_path, slug) for slug in TASKS}
    gaps = [id_score - ood_score for id_score, ood_score, _ in results.values()]
    assert np.mean(gaps) >= 0.03, results
    for slug, (id_score, _, chance) in results.items():
        assert id_score < 0.97, (slug, results[slug])  # not at the ceiling
        assert id_score > chance + 0.05, (slug, results[slug])  # but learnable
