"""docker-compose.yml validates without a Docker engine: YAML, services, mounts, health, secrets."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
import yaml

from tests.deploy.helpers import REPO, entrypoint

COMPOSE_FILE = REPO / "docker-compose.yml"
REQUIRED = {"postgres", "redis", "web", "worker-cpu", "worker-gpu", "beat"}
SUBCOMMANDS = {"web", "worker-cpu", "worker-gpu", "beat", "migrate", "demo", "check"}
ENTRY = ["/app/docker/entrypoint.sh"]
DATA_ROOT = "/srv/medvtab/data"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY\b|AUTH", re.IGNORECASE)
VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    text = COMPOSE_FILE.read_text()
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def app_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services built from this repository's Dockerfile."""
    return {name: svc for name, svc in services.items() if "build" in svc}


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?message} for the values used here."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if op and op.endswith("?"):
            raise KeyError(f"{name}: {arg}")
        return arg or ""

    return VARIABLE.sub(one, value)


def bind_mounts(svc: dict[str, Any], env: dict[str, str]) -> dict[str, tuple[str, bool]]:
    """target -> (source, read-only) for every mount, short or long syntax."""
    mounts: dict[str, tuple[str, bool]] = {}
    for item in svc.get("volumes", []):
        if isinstance(item, str):
            parts = interpolate(item, env).split(":")
            mounts[parts[1]] = (parts[0], len(parts) > 2 and "ro" in parts[2].split(","))
        else:
            source = interpolate(str(item["source"]), env)
            mounts[item["target"]] = (source, bool(item.get("read_only", False)))
    return mounts


def test_the_file_is_a_compose_project(compose: dict[str, Any]) -> None:
    allowed_top = {"name", "services", "volumes", "networks", "secrets", "configs"}
    assert {key for key in compose if not key.startswith("x-")} <= allowed_top
    assert "version" not in compose  # obsolete key; compose v2 warns about it


def test_required_services_exist(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) >= REQUIRED


def test_every_long_running_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        if svc.get("restart") == "no":  # one-off jobs (migrate) have none
            continue
        check = svc.get("healthcheck") or {}
        assert not check.get("disable"), name
        assert check.get("test"), f"{name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name


def test_app_services_run_through_the_entrypoint(services: dict[str, Any]) -> None:
    apps = app_services(services)
    assert set(apps) >= {"web", "worker-cpu", "worker-gpu", "beat"}
    for name, svc in apps.items():
        assert svc.get("entrypoint", ENTRY) == ENTRY, name
        command = svc["command"]
        assert isinstance(command, list) and command[0] in SUBCOMMANDS, name
        check = svc.get("healthcheck", {})
        if not check.get("disable"):
            assert check["test"][1:3] == [ENTRY[0], "healthcheck"], name


@pytest.mark.parametrize("name", ["web", "worker-cpu", "worker-gpu", "beat", "migrate"])
def test_the_entrypoint_accepts_each_command_and_healthcheck(
    services: dict[str, Any], name: str
) -> None:
    svc = services[name]
    env = {"MEDVTAB_ENTRYPOINT_DRY_RUN": "1", "MEDVTAB_GPUS": "0"}
    ran = entrypoint(*svc["command"], env=env)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip()
    check = svc.get("healthcheck", {})
    if not check.get("disable"):
        probed = entrypoint(*check["test"][2:], env=env)
        assert probed.returncode == 0, probed.stderr
        assert "docker/healthcheck.py" in probed.stdout


def test_web_healthcheck_is_readiness(services: dict[str, Any]) -> None:
    assert services["web"]["healthcheck"]["test"][-2:] == ["web", "/readyz"]


def test_nothing_waits_for_web_health(services: dict[str, Any]) -> None:
    # /readyz needs live workers: a worker waiting for web to be healthy would never start.
    for name, svc in services.items():
        assert "web" not in (svc.get("depends_on") or {}), name


def test_gpu_worker_reserves_gpus(services: dict[str, Any]) -> None:
    devices = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    assert services["worker-gpu"]["command"] == ["worker-gpu"]
    assert services["worker-gpu"]["build"]["target"] == "worker"
    for other in ("web", "worker-cpu", "beat"):
        assert "devices" not in str(services[other].get("deploy", {})), other


def test_web_mounts_only_the_public_tree_read_only(services: dict[str, Any]) -> None:
    env = {"MEDVTAB_DATA_DIR": "/data/medvtab"}
    web = bind_mounts(services["web"], env)
    data = {target: m for target, m in web.items() if target.startswith(DATA_ROOT)}
    assert data == {f"{DATA_ROOT}/public": ("/data/medvtab/public", True)}
    assert services["web"]["environment"]["MEDVTAB_DATA_ROOT"] == DATA_ROOT


@pytest.mark.parametrize("name", ["worker-cpu", "worker-gpu"])
def test_workers_mount_the_whole_data_root(services: dict[str, Any], name: str) -> None:
    mounts = bind_mounts(services[name], {"MEDVTAB_DATA_DIR": "/data/medvtab"})
    assert mounts[DATA_ROOT][0] == "/data/medvtab"
    assert services[name]["environment"]["MEDVTAB_DATA_ROOT"] == DATA_ROOT


def test_uploads_volume_is_shared_by_web_and_workers(services: dict[str, Any]) -> None:
    media = services["web"]["environment"]["MEDIA_ROOT"]
    for name in ("web", "worker-cpu", "worker-gpu"):
        assert bind_mounts(services[name], {})[media][0] == "media", name


def test_redis_persists_to_a_volume(compose: dict[str, Any], services: dict[str, Any]) -> None:
    redis = services["redis"]
    command = [str(part) for part in redis["command"]]
    assert command[0] == "redis-server"
    flags = dict(itertools.pairwise(command))
    assert flags["--appendonly"] == "yes"
    assert flags["--maxmemory-policy"] == "noeviction"
    assert "--save" in command
    assert bind_mounts(redis, {})["/data"][0] == "redisdata"
    assert "redisdata" in compose["volumes"]


def test_postgres_keeps_its_data_in_a_volume(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    mounts = bind_mounts(services["postgres"], {})
    assert mounts["/var/lib/postgresql/data"][0] == "pgdata"
    assert "pgdata" in compose["volumes"]


def _environment_values(services: dict[str, Any]) -> list[tuple[str, str, str]]:
    found = []
    for name, svc in services.items():
        env = svc.get("environment") or {}
        assert isinstance(env, dict), f"{name}: use a mapping for environment"
        found += [(name, key, str(value)) for key, value in env.items()]
    return found


def test_no_secret_is_written_in_the_file(services: dict[str, Any]) -> None:
    values = _environment_values(services)
    assert values
    for service, key, value in values:
        if SECRET_NAME.search(key):
            assert value.startswith("${") and value.endswith("}"), f"{service}.{key}={value}"
            match = VARIABLE.fullmatch(value)
            assert match is not None, f"{service}.{key}"
            assert not match.group(3) or match.group(2).endswith("?"), (
                f"{service}.{key} has a default secret"
            )
        # Stand-ins for variables first, so that a ${…:?message} with spaces stays in one URL.
        plain = VARIABLE.sub(lambda m: f"VAR_{m.group(1)}", value)
        for url in re.findall(r"\w+://\S+", plain):
            credentials = url.split("://", 1)[1].rsplit("@", 1)
            if len(credentials) == 2:  # user:password@host: the password must be a variable
                assert credentials[0].split(":", 1)[-1].startswith("VAR_"), f"{service}.{key}"


def test_required_settings_fail_loudly_when_unset(services: dict[str, Any]) -> None:
    env = services["web"]["environment"]
    for key in ("SECRET_KEY", "ALLOWED_HOSTS"):
        with pytest.raises(KeyError):
            interpolate(str(env[key]), {})
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        interpolate(str(env["DATABASE_URL"]), {})
    url = interpolate(str(env["DATABASE_URL"]), {"POSTGRES_PASSWORD": "pw"})
    assert url == "postgres://medvtab:pw@postgres:5432/medvtab"
    broker = interpolate(str(env["CELERY_BROKER_URL"]), {"REDIS_PASSWORD": "pw"})
    assert broker == "redis://:pw@redis:6379/0"
    assert str(env["DEBUG"]) == "0"


def test_app_services_share_one_environment(services: dict[str, Any]) -> None:
    base = services["beat"]["environment"]
    for name in ("web", "worker-cpu", "worker-gpu", "migrate"):
        env = services[name]["environment"]
        assert {key: env[key] for key in base} == base, name


def test_build_targets_exist_in_the_dockerfile(services: dict[str, Any]) -> None:
    text = (REPO / "Dockerfile").read_text()
    stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, flags=re.MULTILINE | re.I))
    for name, svc in app_services(services).items():
        assert svc["build"]["target"] in stages, name


def test_depends_on_has_no_cycle(services: dict[str, Any]) -> None:
    graph = {name: set(svc.get("depends_on") or {}) for name, svc in services.items()}
    for deps in graph.values():
        assert deps <= set(services)
    done: set[str] = set()
    while len(done) < len(graph):
        ready = {name for name, deps in graph.items() if name not in done and deps <= done}
        assert ready, f"dependency cycle among {set(graph) - done}"
        done |= ready
