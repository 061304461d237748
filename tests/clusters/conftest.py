"""One two-node Ray cluster and one S3-protocol server for every cluster test (this package).

Starting a Ray cluster costs a minute or more on a busy 2-core machine, so the modules share one: a
head and a second node, each with a custom resource of its name (so a job can be pinned to a node),
every node with the S3 server's credentials and endpoint in its environment (as a platform team
configures object storage). Both stop when the package's last test is done: an idle two-node Ray takes
about 0.06 of a core (measured 2026-12-06), which the rest of the suite gets back. A test that kills the
second node leaves it to the `cluster` fixture to start it again for the next test."""

from __future__ import annotations

import pytest

from tests.clusters.ray_cluster import RayCluster
from tests.clusters.s3_server import S3Server

SECOND_NODE = "node2"


@pytest.fixture(scope="package")
def s3(tmp_path_factory):
    server = S3Server("umair", tmp_path_factory.mktemp("s3") / "moto.log")
    yield server
    server.stop()


@pytest.fixture(scope="package")
def two_nodes(s3, tmp_path_factory):
    cache = tmp_path_factory.mktemp("storage_cache")  # where nodes mirror remote folders (encoders, served runs)
    c = RayCluster(env={**s3.env, "UMAIR_STORAGE_CACHE": str(cache)})
    try:  # a node that never joined is stopped too, not left running for the rest of the suite
        c.start_head(num_cpus=2, resources={"head": 100})
        c.add_node(SECOND_NODE, num_cpus=2, resources={SECOND_NODE: 100})
        yield c
    finally:
        c.shutdown()


@pytest.fixture
def cluster(two_nodes: RayCluster) -> RayCluster:
    """The shared cluster with both nodes up (the second started again when a test killed it)."""
    if SECOND_NODE not in two_nodes.nodes:
        two_nodes.add_node(SECOND_NODE, num_cpus=2, resources={SECOND_NODE: 100})
    return two_nodes
