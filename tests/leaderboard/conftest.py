from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets.bundle import TEST_SPLITS, list_tasks, load_split
from leaderboard.models import Benchmark, Profile
from leaderboard.services.registration import sync_benchmark

User = get_user_model()


@pytest.fixture(autouse=True)
def _empty_caches() -> Iterator[None]:
    """A cache outlives the rollback of a test's database: each test starts with empty ones and
    leaves none behind, whatever ran before it."""
    for cache in caches.all():
        cache.clear()
    yield
    for cache in caches.all():
        cache.clear()


def make_user(username: str, *, verified: bool = True, staff: bool = False) -> object:
    user = User.objects.create_user(username, f"{username}@example.org", "correct-horse-9")
    user.is_staff = staff
    user.save()
    Profile.objects.filter(user=user).update(email_verified=verified)
    return user


@pytest.fixture
def alice(db: None) -> object:
    return make_user("alice")


@pytest.fixture
def bob(db: None) -> object:
    return make_user("bob")


@pytest.fixture
def staff_user(db: None) -> object:
    return make_user("operator", staff=True)


@pytest.fixture
def benchmark(tiny_bundles: Path, db: None) -> Benchmark:
    sync_benchmark(tiny_bundles, "tiny-bench")
    return Benchmark.objects.get(slug="tiny-bench")


def predictions_zip(
    root: Path,
    benchmark: str = "tiny-bench",
    *,
    seed: int = 0,
    tasks: list[str] | None = None,
    corrupt: Callable[[str, str], str] | None = None,
) -> bytes:
    """Random but valid predictions for every task with public test images."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for meta in list_tasks(root, benchmark):
            if not meta.test_images_public or (tasks is not None and meta.slug not in tasks):
                continue
            ids = np.concatenate(
                [load_split(root, meta, s, images=False).image_ids for s in TEST_SPLITS]
            )
            k = meta.num_classes
            probs = rng.random((len(ids), k)) * 0.998 + 1e-3
            if meta.label_type != "multilabel":
                probs /= probs.sum(1, keepdims=True)
            lines = ["image_id," + ",".join(meta.classes)]
            lines += [
                f"{i}," + ",".join(f"{v:.9f}" for v in row)
                for i, row in zip(ids, probs, strict=True)
            ]
            text = "\n".join(lines) + "\n"
            if corrupt is not None:
                text = corrupt(meta.slug, text)
            # a fixed time stamp: the same seed gives the same bytes (and sha256) whenever it runs,
            # which idempotency tests rely on
            info = zipfile.ZipInfo(f"{meta.slug}.csv", date_time=(2024, 1, 1, 0, 0, 0))
            zf.writestr(info, text, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


@pytest.fixture
def predictions(tiny_bundles: Path) -> Callable[..., SimpleUploadedFile]:
    def make(name: str = "preds.zip", **kwargs: object) -> SimpleUploadedFile:
        return SimpleUploadedFile(
            name,
            predictions_zip(tiny_bundles, **kwargs),  # type: ignore[arg-type]
            content_type="application/zip",
        )

    return make
