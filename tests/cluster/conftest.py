"""The bed, built once per run and torn down at the end even on failure; leftovers of a crashed
run are removed before it is built. Skipped, naming what is missing, without root or namespaces."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster import bed as beds
from tests.cluster.client import Bed, create_tokens
from tests.cluster.services import (
    ADDRESSES,
    BUCKET,
    S3_URL,
    WORKERS,
    Cluster,
    entrypoint,
    log_tails,
    wait_for,
)
from tests.cluster.stage import BENCH, build

pytestmark = pytest.mark.cluster


def _bucket() -> bool:
    import boto3

    s3 = boto3.client("s3", endpoint_url=S3_URL, aws_access_key_id="bed",
                      aws_secret_access_key="bed-secret", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    return True


def _boot(cluster: Cluster) -> list[str]:
    for name in ADDRESSES:
        cluster.add_host(name)
    cluster.init_postgres()
    cluster.start_redis()
    cluster.start_store()
    with cluster.net.inside("client"):
        wait_for(_bucket, 30, "the S3 server on the store host")
    cluster.run("web", entrypoint("migrate"))
    cluster.run("cpu1", entrypoint("manage", "sync_tasks", "--benchmark", BENCH))
    tokens = create_tokens(cluster, ["operator", "loadtest"])
    cluster.start_web()
    cluster.start_beat()
    for name in WORKERS:
        cluster.start_worker(name)
    return tokens


def _keep_logs() -> None:
    """Every host's service logs, for reading after the run (test-artifacts/ is git-ignored)."""
    kept = beds.REPO / "test-artifacts" / "cluster-logs"
    shutil.rmtree(kept, ignore_errors=True)
    if (beds.WORK / "logs").exists():
        shutil.copytree(beds.WORK / "logs", kept)


def ready(bed: Bed) -> bool:
    return bed.http("GET", "/readyz", timeout=5).status == 200


@pytest.fixture(scope="session")
def bed() -> Iterator[Bed]:
    why = beds.missing_capabilities()
    if why:
        pytest.skip(f"multi-host test bed not available: {why}")
    beds.cleanup()
    started = time.monotonic()
    stage = build(beds.WORK / "stage")
    cluster = Cluster(stage.root)
    the_bed = None
    try:
        the_bed = Bed(cluster, stage, _boot(cluster))
        wait_for(lambda: ready(the_bed), 120, "/readyz 200 on the web host", interval=1)
        print(f"\nbed built in {time.monotonic() - started:.1f} s")
        yield the_bed
    except BaseException:
        print(log_tails(cluster))
        raise
    finally:
        if the_bed is not None:
            the_bed.close()
        netns = set(cluster.netns)
        cluster.teardown()
        _keep_logs()
        beds.cleanup()
        left = beds.leftovers(netns)
        assert not left, f"the bed left things behind: {left}"


@pytest.fixture
def healthy(bed: Bed) -> Iterator[Bed]:
    """The bed with every host and service up again before each test (a test may kill some)."""
    restore(bed)
    yield bed
    restore(bed)


def restore(bed: Bed) -> None:
    cluster = bed.cluster
    for name in ADDRESSES:
        if name not in cluster.net.hosts:
            cluster.add_host(name)
            if name in WORKERS:
                cluster.start_worker(name)
        else:
            cluster.net.link(name, up=True)
    for service in list(cluster.services.values()):
        if not service.running():
            service.start()
    wait_for(lambda: ready(bed), 120, "/readyz 200 again", interval=1)


def tails(bed: Bed) -> Any:
    return log_tails(bed.cluster)
