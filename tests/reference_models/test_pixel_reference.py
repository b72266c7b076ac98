"""The pixel logistic-regression reference: pooling, C chosen on val, outputs without test labels."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from datasets.bundle import (
    SPLITS,
    TEST_SPLITS,
    BundleError,
    SplitData,
    TaskMeta,
    task_dir,
    write_task,
)
from evaluator.metrics import primary_metric
from evaluator.scoring import score_probabilities
from reference_models import pixel_reference as pr
from tests.factories import tiny_meta

BENCH = "tiny-bench"


def _learnable(meta: TaskMeta, n: int, seed: int) -> dict[str, SplitData]:
    """A bright band whose position follows the label (each label's own band for multilabel)."""
    rng = np.random.default_rng(seed)
    k, size = meta.num_classes, meta.image_size
    out = {}
    for s, split in enumerate(SPLITS):
        if meta.label_type == "multilabel":
            labels = rng.integers(0, 2, (n, k)).astype(np.uint8)
            labels[0], labels[1] = 0, 1
        else:
            labels = ((np.arange(n) + s) % k).astype(np.int64)
        images = rng.integers(0, 60, (n, size, size, meta.channels)).astype(np.uint8)
        for i in range(n):
            on = np.flatnonzero(labels[i]) if labels.ndim == 2 else [labels[i]]
            for y in on:
                images[i, y * size // k:(y + 1) * size // k] += 150
        ids = np.array([f"{meta.slug}-{split}-{i:04d}" for i in range(n)])
        patients = np.array([f"{split}-P{i // 2:03d}" for i in range(n)])
        out[split] = SplitData(images=images, image_ids=ids, labels=labels, patient_ids=patients)
    return out


def write_learnable(root: Path, slug: str, n: int = 40, **kwargs: object) -> TaskMeta:
    meta = tiny_meta(slug, image_size=int(kwargs.pop("image_size", 32)), **kwargs)  # type: ignore[arg-type]
    idx = {"train800": np.arange(0, n, 2), "val200": np.arange(1, n, 2)}
    return write_task(root, meta, _learnable(meta, n, seed=len(slug)), {"1k": idx})


def test_primary_metric_is_the_scorers() -> None:
    for label_type in ("multiclass", "ordinal", "binary", "multilabel"):
        assert pr.PRIMARY_METRIC[label_type] == primary_metric(label_type)


def test_pooling_shapes_and_values() -> None:
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    pooled = pr.pool_images(colour)
    assert pooled.shape == (5, 16 * 16 * 3) and pooled.dtype == np.float32
    assert pooled.min() >= 0.0 and pooled.max() <= 1.0
    # cell (0, 0) of channel 2 is the mean of the 2x2 top-left pixels of that channel
    expected = colour[0, :2, :2, 2].mean() / 255
    assert pooled[0].reshape(16, 16, 3)[0, 0, 2] == pytest.approx(expected, abs=1e-6)
    uneven = pr.pool_images(rng.integers(0, 256, (2, 28, 28, 1), dtype=np.uint8))
    assert uneven.shape == (2, 256)
    grey = np.full((3, 20, 20), 51, dtype=np.uint8)  # (N, H, W): one channel
    assert np.allclose(pr.pool_images(grey), 0.2)
    assert pr.pool_images(rng.integers(0, 256, (2, 8, 8, 1), dtype=np.uint8)).shape == (2, 64)
    with pytest.raises(BundleError, match="images must be"):
        pr.pool_images(np.zeros((2, 3), dtype=np.uint8))


def _arrays(meta: TaskMeta, n: int = 30) -> dict[str, SplitData]:
    return _learnable(meta, n, seed=3)


def test_best_c_on_val_wins_and_ties_go_to_the_smaller(monkeypatch: pytest.MonkeyPatch) -> None:
    meta = tiny_meta("t", image_size=16)
    data = _arrays(meta)
    train = (data["train"].images, data["train"].labels)
    val = (data["val"].images, data["val"].labels)
    assert train[0] is not None and val[0] is not None
    planned = iter([0.5, 0.9, 0.9, float("nan"), 0.1])
    monkeypatch.setattr(pr, "val_score", lambda *a: next(planned))
    sel = pr.select_and_fit(meta.label_type, 3, train, val)  # type: ignore[arg-type]
    assert sel.c == 1e-2 and sel.score == 0.9  # 1e-2 and 1e-1 tie: the smaller
    assert list(sel.scores) == sorted(pr.C_GRID)
    monkeypatch.setattr(pr, "val_score", lambda *a: float("nan"))
    assert pr.select_and_fit(meta.label_type, 3, train, val).c == min(pr.C_GRID)  # type: ignore[arg-type]


def test_val_labels_decide_and_train_labels_fit() -> None:
    meta = tiny_meta("t", image_size=16)
    data = _arrays(meta, 60)
    train = (np.asarray(data["train"].images), np.asarray(data["train"].labels))
    val = (np.asarray(data["val"].images), np.asarray(data["val"].labels))
    sel = pr.select_and_fit("multiclass", 3, train, val)
    assert sel.score == max(sel.scores.values()) > 0.9  # learnable: val accuracy is high
    # val labels permuted: the same fits now score at most chance-like on val
    shuffled = (val[0], (val[1] + 1) % 3)
    worse = pr.select_and_fit("multiclass", 3, train, shuffled)
    assert worse.score < 0.2


@pytest.mark.parametrize(
    ("label_type", "classes"),
    [("multiclass", ("a", "b", "c")), ("binary", ("no", "yes")), ("multilabel", ("x", "y", "z"))],
)
def test_outputs_without_test_labels(tmp_path: Path, label_type: str, classes: tuple[str, ...]) -> None:
    root = tmp_path / "data"
    meta = write_learnable(root, f"t-{label_type}", label_type=label_type, classes=classes,
                           channels=3 if label_type == "binary" else 1)
    for split in TEST_SPLITS:  # the hidden labels are gone: nothing may need them
        for array in ("labels", "patient_ids"):
            (task_dir(root, "hidden", BENCH, meta.slug) / split / f"{array}.npy").unlink()
    (ref,) = pr.benchmark_reference(root, BENCH, "full")
    ids, probs = ref.outputs
    n = meta.splits["test_id"].n_images + meta.splits["test_ood"].n_images
    assert probs.shape == (n, len(classes)) and len(ids) == n
    assert ids[0].endswith("test_id-0000") and ids[-1].startswith(f"{meta.slug}-test_ood")
    assert ((probs >= 0.0) & (probs <= 1.0)).all()
    if label_type != "multilabel":
        assert np.allclose(probs.sum(axis=1), 1.0)
    d = 16 * 16 * (3 if label_type == "binary" else 1)
    assert ref.selection.model.n_params == (1 if label_type == "binary" else 3) * (d + 1)


def test_hidden_test_images_are_read_and_scored(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_learnable(root, "open-task")
    write_learnable(root, "hidden-task", test_images_public=False, modality="ct-oct")
    assert not (task_dir(root, "public", BENCH, "hidden-task") / "test_id" / "images.npy").exists()
    refs = pr.benchmark_reference(root, BENCH, "1k")
    assert [r.slug for r in refs] == ["hidden-task", "open-task"]
    score = score_probabilities(root, BENCH, {r.slug: r.outputs for r in refs}, bootstrap=0)
    for slug in ("hidden-task", "open-task"):
        assert score.json["tasks"][slug]["test_id"]["accuracy"]["value"] > 0.8  # learnable
    assert pr.mean_params(refs) == 3 * (256 + 1)


def test_one_k_needs_its_indices(tmp_path: Path) -> None:
    root = tmp_path / "data"
    meta = tiny_meta("no-1k", image_size=16)
    write_task(root, meta, _arrays(meta))
    with pytest.raises(BundleError, match="no '1k' protocol"):
        pr.benchmark_reference(root, BENCH, "1k")
    assert pr.benchmark_reference(root, BENCH, "full")[0].slug == "no-1k"


def test_one_class_in_train_predicts_that_class() -> None:
    meta = tiny_meta("t", image_size=16)
    data = _arrays(meta)
    images = np.asarray(data["train"].images)
    sel = pr.select_and_fit("multiclass", 3, (images, np.full(len(images), 2)),
                            (images, np.full(len(images), 2)))
    assert np.allclose(sel.model.predict_proba(images)[:, 2], 1.0)


def test_cli_prints_the_chosen_c(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_learnable(root, "cli-task")
    out = io.StringIO()
    with redirect_stdout(out):
        assert pr.main(["--data-root", str(root), "--benchmark", BENCH, "--protocol", "1k"]) == 0
    line = next(x for x in out.getvalue().splitlines() if x.startswith("| cli-task"))
    assert float(line.split("|")[2]) in pr.C_GRID
    assert pr.main(["--data-root", str(root), "--benchmark", "nope"]) == 2
