"""The Pulumi deployment deploys exactly the reviewed tree, run against Pulumi's mocks.

Each bundled cluster's stack program runs once (module-scoped) in a fresh event loop with
`pulumi.runtime.set_mocks`; the mocks record every resource registration (type, name, inputs
as the engine would receive them, in camelCase) and a recording monitor adds the
dependencies of each. The assertions compare those records with the files of generated/.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func

from aifab.deploy.program import run
from aifab.deploy.resources import (
    COMPONENT_TYPE,
    OPERATOR_RELEASES,
    TYPED_KINDS,
    DuplicateNameError,
    object_name,
    resource_names,
    summary,
)
from aifab.deploy.stack_config import stack_config
from aifab.deploy.tree import TreeError, load_cluster_tree
from aifab.expand.flux import is_release, is_source
from aifab.expand.node_pools import nodes_of
from aifab.render import LOCK, digest
from bundled import CLUSTER_FILES, chart_releases

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "generated"
# The standalone clusters and the smallest cluster of the national fleet (its clusters differ
# only in size; tests/test_stack_size.py runs the largest).
CLUSTERS = sorted(p.stem for p in CLUSTER_FILES) + ["kr-gwangju-b300"]
PROVIDER_TYPE = "pulumi:providers:kubernetes"


# --- running the program ---------------------------------------------------------------


class Recorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        self.resources.append(args)
        return f"{args.name}-id", args.inputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        return {}


class RecordingMonitor(MockMonitor):
    """MockMonitor that also keeps each registration's dependencies and parent (as resource
    names, the parent with its type)."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.dependencies: dict[str, set[str]] = {}
        self.parents: dict[str, tuple[str, str]] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method's name
        self.dependencies[request.name] = {urn.rpartition("::")[2] for urn in request.dependencies}
        if request.parent:  # urn:pulumi:stack::project::<parent types$>type::name
            types, _, name = request.parent.rpartition("::")
            self.parents[request.name] = (types.rpartition("$")[2].rpartition("::")[2], name)
        return super().RegisterResource(request)


@dataclass
class Run:
    resources: dict[str, Any] = field(default_factory=dict)  # name -> MockResourceArgs
    count: int = 0
    dependencies: dict[str, set[str]] = field(default_factory=dict)
    parents: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (type, name)
    warnings: list[str] = field(default_factory=list)
    error: BaseException | None = None


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def deploy(cluster: str, generated: Path = GENERATED, config: dict[str, str] | None = None) -> Run:
    """Run stack `cluster`'s program in the project of `generated` (its parent, as `pulumi up`
    in that folder would), with `config` (default: the stack configuration aifab writes)."""
    cwd = os.getcwd()
    os.chdir(generated.parent)
    try:
        return _deploy(cluster, {"aifab:cluster": cluster} if config is None else config)
    finally:
        os.chdir(cwd)


def _deploy(cluster: str, config: dict[str, str]) -> Run:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mocks = Recorder()
    monitor = RecordingMonitor(mocks)
    handler = _Warnings()
    logger = logging.getLogger(f"aifab-deploy-test-{id(handler)}")
    logger.addHandler(handler)
    logger.propagate = False
    pulumi.runtime.set_mocks(mocks, project="aifab", stack=cluster, preview=False,
                             logger=logger, monitor=monitor)
    pulumi.runtime.set_all_config(config)
    result = Run()
    try:
        loop.run_until_complete(run_pulumi_func(run))
    except Exception as exc:  # noqa: BLE001 - the tests look at it
        result.error = exc
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    result.count = len(mocks.resources)
    result.resources = {r.name: r for r in mocks.resources}
    result.dependencies = monitor.dependencies
    result.parents = monitor.parents
    result.warnings = handler.messages
    return result


@pytest.fixture(scope="module", params=CLUSTERS)
def deployed(request: pytest.FixtureRequest) -> tuple[str, Run]:
    outcome = deploy(request.param)
    assert outcome.error is None, outcome.error
    return request.param, outcome


def tree_files(cluster: str, folder: Path = GENERATED) -> dict[str, dict[str, Any]]:
    """Every YAML file of the tree, parsed with the plain safe loader: path -> data."""
    return {p.relative_to(folder / cluster).as_posix(): yaml.safe_load(p.read_bytes())
            for p in sorted((folder / cluster).rglob("*.yaml"))}


def by_kind(cluster: str) -> tuple[list[dict], list[dict], list[dict]]:
    """The tree's objects (Flux sources aside: the program reads them, Flux would apply
    them), its Flux HelmReleases and its pools' NodeFeatureRules (objects too)."""
    objects, releases, pools = [], [], []
    for path, data in tree_files(cluster).items():
        if path.startswith("examples/") or is_source(data):  # never declared
            continue
        if data["kind"] == "NodeFeatureRule":
            pools.append(data)
        if is_release(data):
            releases.append(data)
        else:
            objects.append(data)
    return objects, releases, pools


def helm_releases(cluster: str) -> list:
    """Every HelmRelease of the tree read with its source (expand.flux.ChartRelease)."""
    return chart_releases(d for p, d in tree_files(cluster).items() if not p.startswith("ex"))


def type_token(data: dict) -> str:
    api = data["apiVersion"] if "/" in data["apiVersion"] else f"core/{data['apiVersion']}"
    return f"kubernetes:{api}:{data['kind']}"


def plain(value: Any) -> Any:
    """JSON-normalised data: the engine carries numbers as doubles, so compare as JSON does."""
    return json.loads(json.dumps(value), parse_int=float)


# --- what is declared -------------------------------------------------------------------


def test_every_object_is_one_resource_with_the_file_content(deployed: tuple[str, Run]) -> None:
    cluster, outcome = deployed
    objects, releases, _ = by_kind(cluster)
    components = {n for n, r in outcome.resources.items() if r.typ == COMPONENT_TYPE}
    # every registration has its own name: nothing was declared twice under one name
    assert outcome.count == len(outcome.resources) == \
        1 + len(components) + len(objects) + len(releases)
    declared = {n for n, r in outcome.resources.items() if not n.startswith("release/")
                and r.typ not in (PROVIDER_TYPE, COMPONENT_TYPE)}
    assert declared == {object_name(o) for o in objects}
    for data in objects:
        recorded = outcome.resources[object_name(data)]
        assert recorded.typ == type_token(data)
        assert plain(recorded.inputs) == plain(data), object_name(data)
        assert recorded.provider and f"k8s-{cluster}" in recorded.provider


def test_releases_have_the_chart_version_repository_and_values(deployed: tuple[str, Run]) -> None:
    cluster, outcome = deployed
    releases = helm_releases(cluster)
    assert releases
    for release in releases:
        spec = release.release["spec"]
        recorded = outcome.resources[f"release/{release.name}"]
        inputs = recorded.inputs
        assert recorded.typ == "kubernetes:helm.sh/v3:Release"
        assert inputs["name"] == spec["releaseName"]  # no random suffix on the Helm release
        assert inputs["namespace"] == spec["targetNamespace"]
        assert plain(inputs["values"]) == plain(spec["values"])
        assert inputs["createNamespace"] is False
        assert inputs["skipAwait"] is False
        assert inputs["timeout"] == {"15m": 900, "30m": 1800}[spec["timeout"]]
        source = release.source["spec"]
        if "chartRef" in spec:  # an OCIRepository: the chart is its url, at its tag
            assert release.source["kind"] == "OCIRepository"
            assert inputs["chart"] == source["url"]
            assert inputs["version"] == source["ref"]["tag"]
            assert "repositoryOpts" not in inputs
        else:  # a HelmRepository: the chart by name in it
            assert release.source["kind"] == "HelmRepository"
            assert inputs["chart"] == spec["chart"]["spec"]["chart"]
            assert inputs["version"] == spec["chart"]["spec"]["version"]
            assert inputs["repositoryOpts"] == {"repo": source["url"]}


@pytest.mark.parametrize(("cluster", "mirror"), [
    ("gwangju-gb200", "oci://registry.gwangju-1.ai.example.kr/charts"),
    ("daejeon-b200", "oci://harbor.dj1.ai.example.kr/charts"),
])
def test_air_gapped_clusters_pull_every_chart_from_their_mirror(cluster: str, mirror: str) -> None:
    blueprint = yaml.safe_load((ROOT / "blueprints" / f"{cluster}.yaml").read_text())
    assert blueprint["spec"]["sovereignty"]["chartMirror"] == mirror
    tree = load_cluster_tree(GENERATED, cluster)
    assert tree.releases
    outcome = deploy(cluster)
    assert outcome.error is None
    for entry in tree.releases:
        chart = outcome.resources[f"release/{entry.name}"].inputs["chart"]
        assert chart == f"{mirror}/{entry.helm.chart}"


def test_no_resource_per_node(deployed: tuple[str, Run]) -> None:
    """Nodes get their labels and taints from the pools' NodeFeatureRules (nfd-master), which
    are declared as they are: one resource per pool, none per node."""
    cluster, outcome = deployed
    _, _, pools = by_kind(cluster)
    assert not [n for n in outcome.resources if n.startswith("node/")]
    assert not [r for r in outcome.resources.values() if r.typ.endswith(":NodePatch")]
    for rule in pools:
        recorded = outcome.resources[f"NodeFeatureRule/{rule['metadata']['name']}"]
        assert recorded.inputs["spec"] == rule["spec"]
        assert list(nodes_of(rule))


def test_selector_pools_have_no_rule_and_say_how_nodes_get_labels() -> None:
    outcome = deploy("seoul-rtxpro")
    assert outcome.error is None
    assert "NodeFeatureRule/aifab-pool-rtx-shared" not in outcome.resources
    text = (GENERATED / "seoul-rtxpro" / "node-pools" / "rtx-shared.md").read_text()
    assert "--node-labels=" in text and "aifab.dev/pool=rtx-shared" in text


def test_dependencies(deployed: tuple[str, Run]) -> None:
    cluster, outcome = deployed
    objects, releases, _ = by_kind(cluster)
    namespaces = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    release_names = {r["metadata"]["name"] for r in releases}
    for data in objects:
        deps = outcome.dependencies[object_name(data)]
        namespace = data["metadata"].get("namespace")
        expected = {f"Namespace/{namespace}"} if namespace in namespaces else set()
        group = data["apiVersion"].rpartition("/")[0]
        if OPERATOR_RELEASES.get(group) in release_names:
            expected.add(f"release/{OPERATOR_RELEASES[group]}")
        assert deps == expected, object_name(data)
    for release in helm_releases(cluster):
        namespace = release.namespace
        deps = outcome.dependencies[f"release/{release.name}"]
        assert f"Namespace/{namespace}" in deps
        # the core objects of its namespace, e.g. the MIG config the values name, and the
        # releases its spec.dependsOn names
        assert deps - {f"Namespace/{namespace}"} == {
            object_name(o) for o in objects if o["metadata"].get("namespace") == namespace
            and (o["apiVersion"], o["kind"]) in TYPED_KINDS} | {
            f"release/{name}" for name, _ in release.depends_on}
    if cluster == "gwangju-gb200":
        gpu_operator = outcome.dependencies["release/gpu-operator"]
        assert "ConfigMap/gpu-operator/aifab-mig-config" in gpu_operator
        # ComputeDomains are per workload: the examples/ templates are never declared
        assert not [name for name in outcome.dependencies if name.startswith("ComputeDomain/")]
        assert not [name for name in outcome.dependencies if name.startswith("JobSet/")]


# --- what is refused --------------------------------------------------------------------


def copy_tree(tmp_path: Path, cluster: str = "gwangju-gb200") -> Path:
    """A project in tmp_path (Pulumi.yaml, blueprints/) with the tree of `cluster`; its
    generated/."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copytree(ROOT / "blueprints", tmp_path / "blueprints")
    generated = tmp_path / "generated"
    shutil.copytree(GENERATED / cluster, generated / cluster)
    return generated


def relock(folder: Path) -> None:
    lock = json.loads((folder / LOCK).read_bytes())
    lock["files"] = {p.relative_to(folder).as_posix(): digest(p.read_bytes())
                     for p in sorted(folder.rglob("*")) if p.is_file() and p.name != LOCK}
    (folder / LOCK).write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")


def flip_one_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    at = raw.index(b"aifab.dev/cluster: gwangju-gb200") + len("aifab.dev/cluster: gwangju-gb20")
    raw[at] = ord("1")  # gwangju-gb200 -> gwangju-gb201: one byte, still valid YAML
    path.write_bytes(bytes(raw))


TAMPERING = {
    "edited": lambda f: flip_one_byte(f / "namespaces" / "namespace-gpu-operator.yaml"),
    "missing": lambda f: (f / "storage" / "storageclass-scratch.yaml").unlink(),
    "extra": lambda f: (f / "storage" / "storageclass-extra.yaml").write_bytes(
        (f / "storage" / "storageclass-scratch.yaml").read_bytes()),
    "lock": lambda f: (f / LOCK).unlink(),
}


@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_a_tree_that_is_not_the_reviewed_one_declares_nothing(tmp_path: Path, how: str) -> None:
    generated = copy_tree(tmp_path)
    TAMPERING[how](generated / "gwangju-gb200")
    outcome = deploy("gwangju-gb200", generated)
    assert isinstance(outcome.error, pulumi.RunError)
    assert outcome.count == 0  # not even the provider
    message = str(outcome.error)
    assert "aifab generate --check" in message
    expected = {"edited": "namespaces/namespace-gpu-operator.yaml",
                "missing": "storage/storageclass-scratch.yaml",
                "extra": "storage/storageclass-extra.yaml", "lock": LOCK}[how]
    assert expected in message
    if how != "lock":
        assert f"{how} (" in message


def test_an_untampered_copy_deploys(tmp_path: Path) -> None:
    outcome = deploy("gwangju-gb200", copy_tree(tmp_path))
    assert outcome.error is None
    assert outcome.count == deploy("gwangju-gb200").count  # the same stack as the original


def test_a_blueprint_changed_since_generation_makes_the_tree_stale(tmp_path: Path) -> None:
    generated = copy_tree(tmp_path)
    text = (ROOT / "blueprints" / "gwangju-gb200.yaml").read_text()
    changed = text.replace("residency: KR", "residency: JP")
    assert changed != text
    (tmp_path / "blueprints" / "gwangju-gb200.yaml").write_text(changed)
    with pytest.raises(TreeError, match=r"(?s)stale.*blueprints/gwangju-gb200.yaml"):
        load_cluster_tree(generated, "gwangju-gb200")
    # comments do not count: the digest is of the data
    (tmp_path / "blueprints" / "gwangju-gb200.yaml").write_text(text + "# reviewed\n")
    load_cluster_tree(generated, "gwangju-gb200")


def test_a_fleet_default_changed_since_generation_makes_its_clusters_stale(tmp_path: Path) -> None:
    """A fleet member's lock holds the digest of the merged cluster, defaults included."""
    generated = copy_tree(tmp_path, "kr-gwangju-b300")
    load_cluster_tree(generated, "kr-gwangju-b300")  # as generated: current
    fleet = tmp_path / "blueprints" / "korea-national.yaml"
    text = fleet.read_text()
    fleet.write_text(text.replace("serviceMonitor: true", "serviceMonitor: false"))
    with pytest.raises(TreeError, match=r"(?s)stale.*blueprints/korea/kr-gwangju-b300.yaml"):
        load_cluster_tree(generated, "kr-gwangju-b300")


def test_duplicate_resource_names_fail_before_anything_is_declared(tmp_path: Path) -> None:
    generated = copy_tree(tmp_path)
    folder = generated / "gwangju-gb200"
    shutil.copy(folder / "namespaces" / "namespace-gpu-operator.yaml",
                folder / "namespaces" / "namespace-gpu-operator-again.yaml")
    relock(folder)  # a reviewed tree, so only the duplicate is wrong
    tree = load_cluster_tree(generated, "gwangju-gb200")
    with pytest.raises(DuplicateNameError, match="Namespace/gpu-operator"):
        resource_names(tree)
    outcome = deploy("gwangju-gb200", generated)
    assert isinstance(outcome.error, pulumi.RunError)
    assert "Namespace/gpu-operator" in str(outcome.error)
    assert outcome.count == 0


def test_review_documents_are_verified_but_not_deployed(tmp_path: Path) -> None:
    generated = copy_tree(tmp_path)
    folder = generated / "gwangju-gb200"
    (folder / "NOTES.md").write_text("# gwangju-gb200\n")
    relock(folder)
    tree = load_cluster_tree(generated, "gwangju-gb200")
    assert "NOTES.md" in tree.documents
    # YAML documents: only the examples/ templates, never deployed
    assert all(d.startswith("examples/") for d in tree.documents if d.endswith((".yaml", ".yml")))
    assert all(e.path != "NOTES.md" for e in tree.objects + tree.releases + tree.sources)
    (folder / "NOTES.md").write_text("# gwangju-gb200, edited\n")
    with pytest.raises(TreeError, match="NOTES.md"):
        load_cluster_tree(generated, "gwangju-gb200")


def test_unknown_cluster(tmp_path: Path) -> None:
    with pytest.raises(TreeError, match="no generated tree"):
        load_cluster_tree(GENERATED, "atlantis")
    outcome = deploy("atlantis")
    assert isinstance(outcome.error, pulumi.RunError) and outcome.count == 0


def test_tree_groups_in_path_order() -> None:
    tree = load_cluster_tree(GENERATED, "gwangju-gb200")
    for group in (tree.objects, tree.releases, tree.sources):
        assert [e.path for e in group] == sorted(e.path for e in group)
    assert {e.name for e in tree.releases} == {
        "gpu-operator", "network-operator", "kueue", "jobset", "kube-prometheus-stack",
        "nvidia-dra-driver-gpu"}
    assert [e.name for e in tree.objects if e.kind == "NodeFeatureRule"] == [
        "aifab-pool-b200-infer", "aifab-pool-gb200"]
    assert summary(tree)["resources"]["NodeFeatureRule"] == 2


# --- project and stack files ------------------------------------------------------------


def test_project_file() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "aifab"
    assert project["runtime"] == {"name": "python", "options": {"virtualenv": ".venv"}}
    assert project["main"] == "stacks/"
    assert project["stackConfigDir"] == "stacks"
    assert (ROOT / project["main"] / "__main__.py").is_file()


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_stack_config(cluster: str) -> None:
    name, content = stack_config(cluster)
    assert name == f"Pulumi.{cluster}.yaml"
    text = content.decode()
    assert text.startswith("# Generated by aifab")
    assert "pulumi config set --secret" in text
    assert yaml.safe_load(text) == {"config": {"aifab:cluster": cluster, "aifab:context": cluster}}
