"""Static checks of the Dockerfile and .dockerignore (no Docker engine here)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from tests.deploy.helpers import REPO

TARGETS = {"web": "web", "worker-cpu": "worker-cpu", "worker": "worker-gpu"}


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]


def parse(text: str) -> dict[str, Stage]:
    """Stages by name; continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)\s+AS\s+(\S+)", rest.strip(), flags=re.I)
            assert match, f"every stage is named: {line}"
            current = Stage(base=match.group(1), name=match.group(2))
            stages[current.name] = current
        elif current is not None:
            current.instructions.append((keyword, rest.strip()))
    return stages


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    return parse((REPO / "Dockerfile").read_text())


def chain(stages: dict[str, Stage], name: str) -> list[Stage]:
    """The stage and every stage it is built FROM, nearest first."""
    found = [stages[name]]
    while found[-1].base in stages:
        found.append(stages[found[-1].base])
    return found


def test_targets_exist(stages: dict[str, Stage]) -> None:
    assert set(TARGETS) <= set(stages)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_targets_run_as_an_unprivileged_user(stages: dict[str, Stage], target: str) -> None:
    users = stages[target].args("USER")
    assert users, f"{target} sets no USER"
    assert users[-1] not in ("root", "0", "0:0")
    # Nothing after the last USER switches back to root.
    keywords = [kw for kw, _ in stages[target].instructions]
    assert "RUN" not in keywords[keywords.index("USER") + 1 :]


@pytest.mark.parametrize(("target", "role"), sorted(TARGETS.items()))
def test_targets_use_the_entrypoint_and_check_health(
    stages: dict[str, Stage], target: str, role: str
) -> None:
    stage = stages[target]
    assert stage.args("ENTRYPOINT") == ['["/app/docker/entrypoint.sh"]']
    assert stage.args("CMD") == [f'["{role}"]']
    (check,) = stage.args("HEALTHCHECK")
    assert f'"/app/docker/entrypoint.sh", "healthcheck", "{role}"' in check
    assert "--interval=" in check and "--timeout=" in check


def test_web_image_has_no_torch(stages: dict[str, Stage]) -> None:
    web_text = " ".join(rest for stage in chain(stages, "web") for _, rest in stage.instructions)
    assert "requirements/web.txt" in web_text
    assert "worker.txt" not in web_text
    assert "torch" not in web_text
    # The web requirements themselves carry no torch, timm or peft.
    web_reqs = (REPO / "requirements" / "web.txt").read_text().lower()
    assert not re.search(r"^(torch|torchvision|timm|peft)\b", web_reqs, flags=re.M)


def test_web_image_copies_no_worker_stage(stages: dict[str, Stage]) -> None:
    names = {stage.name for stage in chain(stages, "web")}
    for _, rest in stages["web"].instructions:
        source = re.search(r"--from=(\S+)", rest)
        if source:
            names |= {stage.name for stage in chain(stages, source.group(1))}
    assert not names & {"worker-cpu-deps", "worker-deps", "cuda-python"}


def test_cpu_worker_uses_cpu_wheels_and_gpu_worker_cuda(stages: dict[str, Stage]) -> None:
    cpu = " ".join(rest for stage in chain(stages, "worker-cpu") for _, rest in stage.instructions)
    assert "--index-url https://download.pytorch.org/whl/cpu" in cpu
    assert "requirements/worker.txt" in cpu
    gpu_chain = chain(stages, "worker")
    assert gpu_chain[-1].base == "${CUDA_IMAGE}"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^ARG CUDA_IMAGE=nvidia/cuda:\S+-runtime-", dockerfile, flags=re.M)
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", dockerfile, flags=re.M)
    gpu = " ".join(rest for stage in gpu_chain for _, rest in stage.instructions)
    assert "python3.11" in gpu
    assert "download.pytorch.org" not in gpu  # default PyPI wheels: the CUDA builds


def test_no_secret_is_baked_in(stages: dict[str, Stage]) -> None:
    for stage in stages.values():
        for keyword, rest in stage.instructions:
            if keyword in ("ENV", "ARG", "LABEL"):
                assert not re.search(r"SECRET|PASSWORD|TOKEN", rest, flags=re.I), rest
            if "SECRET_KEY=" in rest:  # only inline for one RUN, with an obviously fake value
                assert keyword == "RUN" and "SECRET_KEY=collectstatic-only" in rest


def test_static_files_are_collected_at_build_time(stages: dict[str, Stage]) -> None:
    runs = " ".join(stages["source"].args("RUN"))
    assert "manage.py collectstatic --noinput" in runs
    for target in TARGETS:
        copies = stages[target].args("COPY")
        assert "--from=source /app /app" in copies, target


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    ignored = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "var", ".env", "tests"} <= ignored
    assert "docker" not in ignored and "requirements" not in ignored
