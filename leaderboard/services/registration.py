"""Register task bundles found on disk as Benchmark/Modality/Task rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from datasets.bundle import TaskMeta, list_benchmarks, list_tasks
from leaderboard.models import Benchmark, Modality, Task

DEFAULT_MODALITY_NAMES = {
    "colour": "Colour images",
    "color": "Colour images",
    "xray": "X-ray",
    "x-ray": "X-ray",
    "ct-oct": "CT / OCT / MRI",
    "ct": "CT",
    "oct": "OCT",
    "mri": "MRI",
}


class RegistrationError(ValueError):
    pass


@dataclass(frozen=True)
class SyncReport:
    benchmark: str
    created: list[str]
    updated: list[str]

    def __str__(self) -> str:
        return (
            f"{self.benchmark}: {len(self.created)} task(s) registered, {len(self.updated)} updated"
        )


def read_benchmark_info(root: Path, slug: str) -> dict[str, object]:
    path = Path(root) / "public" / slug / "benchmark.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RegistrationError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RegistrationError(f"{path}: must hold a JSON object")
    return data


def write_benchmark_info(root: Path, slug: str, info: dict[str, object]) -> None:
    path = Path(root) / "public" / slug / "benchmark.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def _modality(benchmark: Benchmark, slug: str, names: dict[str, str], order: list[str]) -> Modality:
    name = names.get(slug) or DEFAULT_MODALITY_NAMES.get(slug) or slug.replace("-", " ").title()
    position = order.index(slug) if slug in order else len(order)
    modality, _ = Modality.objects.update_or_create(
        benchmark=benchmark, slug=slug, defaults={"name": name, "order": position}
    )
    return modality


def _task_fields(meta: TaskMeta) -> dict[str, object]:
    return {
        "name": meta.name,
        "description": meta.description,
        "organ": meta.organ,
        "label_type": meta.label_type,
        "classes": list(meta.classes),
        "primary_metric": meta.primary_metric,
        "image_size": meta.image_size,
        "channels": meta.channels,
        "version": meta.version,
        "source": meta.source,
        "license": meta.license,
        "citation": meta.citation,
        "test_images_public": meta.test_images_public,
        "ood_level": meta.ood_level,
        "synthetic": meta.synthetic,
        "split_counts": {
            s: {"n_images": c.n_images, "n_patients": c.n_patients} for s, c in meta.splits.items()
        },
    }


@transaction.atomic
def sync_benchmark(root: Path, slug: str) -> SyncReport:
    metas = list_tasks(root, slug)
    if not metas:
        raise RegistrationError(
            f"no task bundles for benchmark {slug!r} under {root}/public/{slug}"
        )
    info = read_benchmark_info(root, slug)
    benchmark, _ = Benchmark.objects.update_or_create(
        slug=slug,
        defaults={
            "name": str(info.get("name") or slug),
            "description": str(info.get("description") or ""),
            "synthetic": all(m.synthetic for m in metas),
        },
    )
    names = {str(k): str(v) for k, v in dict(info.get("modalities") or {}).items()}  # type: ignore[call-overload]
    order = list(names) or sorted({m.modality for m in metas})
    created: list[str] = []
    updated: list[str] = []
    for meta in metas:
        clash = Task.objects.filter(slug=meta.slug).exclude(benchmark=benchmark).first()
        if clash is not None:
            raise RegistrationError(
                f"task slug {meta.slug!r} is already used by benchmark {clash.benchmark.slug!r}; "
                "task slugs are unique across the server"
            )
        modality = _modality(benchmark, meta.modality, names, order)
        _, was_created = Task.objects.update_or_create(
            slug=meta.slug,
            defaults={"benchmark": benchmark, "modality": modality, **_task_fields(meta)},
        )
        (created if was_created else updated).append(meta.slug)
    Modality.objects.filter(benchmark=benchmark, tasks__isnull=True).delete()
    return SyncReport(slug, created, updated)


def sync_all(root: Path) -> list[SyncReport]:
    return [sync_benchmark(root, slug) for slug in list_benchmarks(root) if list_tasks(root, slug)]
