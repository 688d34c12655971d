"""`aifab.live`: the real kubernetes client against a fake API server on 127.0.0.1.

The server answers `GET /api/v1/nodes` the way the API server does: label selectors (equality
and set-based), `limit` with `metadata.continue` tokens, a Status object for errors. Its nodes
are generated from the bundled blueprints, with the labels NFD applies from the pools'
NodeFeatureRules (node_pools.node_feature_rule) and the ones GPU Feature Discovery and
mig-manager would set.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from aifab import live
from aifab.diagnostics import Severity
from aifab.expand.node_pools import node_feature_rule, nodes_of, pool_labels
from aifab.model import Cluster
from aifab.pipeline import Result, run

ROOT = Path(__file__).resolve().parents[1]
GWANGJU = ROOT / "blueprints" / "gwangju-gb200.yaml"
SEOUL = ROOT / "blueprints" / "seoul-rtxpro.yaml"
TOKEN = "aifab-test-token"


# -- the fake API server ----------------------------------------------------------------------------

_SET_REQ = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\((.*)\)\s*$")


def _requirements(selector: str) -> list[str]:
    """Split a label selector at the commas outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in selector:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def matches(selector: str, labels: dict[str, str]) -> bool:
    for req in _requirements(selector):
        if m := _SET_REQ.match(req):
            key, op, values = m[1], m[2], {v.strip() for v in m[3].split(",")}
            if (op == "in") != (labels.get(key) in values):
                return False
        elif "!=" in req:
            key, value = (s.strip() for s in req.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in req:
            key, value = (s.strip() for s in req.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif req.strip().startswith("!"):
            if req.strip()[1:] in labels:
                return False
        elif req.strip() not in labels:
            return False
    return True


class FakeApiServer:
    """Nodes in memory, served like kube-apiserver serves them."""

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.requests: list[tuple[str, dict[str, list[str]], str]] = []
        self.fail_with: int | None = None  # answer every request with this HTTP status
        self.delay = 0.0                   # seconds to wait before answering
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                server.requests.append((url.path, query, self.headers.get("Authorization", "")))
                time.sleep(server.delay)
                if server.fail_with:
                    self._status(server.fail_with, "Forbidden", 'nodes is forbidden: User '
                                 '"aifab" cannot list resource "nodes" in API group "" at the '
                                 'cluster scope')
                elif url.path == "/api/v1/nodes":
                    self._list(query)
                else:
                    self._status(404, "NotFound", "the server could not find the requested resource")

            def _list(self, query: dict[str, list[str]]) -> None:
                selector = query.get("labelSelector", [""])[0]
                items = sorted((n for n in server.nodes
                                if matches(selector, n["metadata"].get("labels", {}))),
                               key=lambda n: n["metadata"]["name"])
                start = 0
                if token := query.get("continue", [""])[0]:
                    state = json.loads(base64.urlsafe_b64decode(token))
                    if state["selector"] != selector:
                        self._status(400, "BadRequest", "continue key is not valid")
                        return
                    start = state["start"]
                limit = int(query.get("limit", ["0"])[0]) or len(items)
                page = items[start:start + limit]
                meta: dict[str, Any] = {"resourceVersion": "4242"}
                if start + limit < len(items):
                    meta["continue"] = base64.urlsafe_b64encode(json.dumps(
                        {"selector": selector, "start": start + limit}).encode()).decode()
                    meta["remainingItemCount"] = len(items) - start - limit
                self._json(200, {"kind": "NodeList", "apiVersion": "v1", "metadata": meta,
                                 "items": page})

            def _status(self, code: int, reason: str, message: str) -> None:
                self._json(code, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                  "status": "Failure", "message": message, "reason": reason,
                                  "code": code})

            def _json(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    def node(self, name: str) -> dict[str, Any]:
        return next(n for n in self.nodes if n["metadata"]["name"] == name)

    def labels(self, name: str) -> dict[str, str]:
        return self.node(name)["metadata"]["labels"]


@pytest.fixture
def server(monkeypatch) -> Iterator[FakeApiServer]:
    # the client reads proxy variables from the environment: keep every request on 127.0.0.1
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    fake = FakeApiServer()
    fake.thread.start()
    yield fake
    fake.httpd.shutdown()
    fake.httpd.server_close()
    fake.thread.join(timeout=5)


def kubeconfig(tmp_path: Path, server_url: str, *, other_url: str = "http://127.0.0.1:9") -> Path:
    """A kubeconfig whose current context is the fake server; context `other` is elsewhere."""
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": server_url}},
                     {"name": "other", "cluster": {"server": other_url}}],
        "users": [{"name": "tester", "user": {"token": TOKEN}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}},
                     {"name": "other", "context": {"cluster": "other", "user": "tester"}}],
    }), encoding="utf-8")
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- nodes as a healthy cluster has them ------------------------------------------------------------

def resolved(path: Path) -> tuple[Result, Cluster]:
    result = run(path)
    assert result.ok and result.cluster is not None, result.findings
    return result, result.cluster


def gfd_labels(cluster: Cluster, pool: Any) -> dict[str, str]:
    """What GFD, the GPU Operator and mig-manager put on a healthy node of `pool`."""
    major, minor, rev = pool.driver_version.split(".")
    shared = pool.sharing is not None and not pool.uses_mig
    labels = {
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": pool.system.gpu.gfd_product + ("-SHARED" if shared else ""),
        "nvidia.com/gpu.count": str(pool.system.gpus_per_node),
        "nvidia.com/gpu.replicas": str(pool.sharing.replicas if pool.sharing else 1),
        "nvidia.com/gpu.family": "blackwell",
        "nvidia.com/gpu.memory": str(pool.system.gpu.memory_gb * 1024),
        "nvidia.com/cuda.driver-version.full": pool.driver_version,
        "nvidia.com/cuda.driver-version.major": major,
        "nvidia.com/cuda.driver-version.minor": minor,
        "nvidia.com/cuda.driver-version.revision": rev,
        "nvidia.com/cuda.driver.major": major,
        "nvidia.com/cuda.driver.minor": minor,
        "nvidia.com/cuda.driver.rev": rev,
        "nvidia.com/cuda.runtime-version.full": "13.0",
        "nvidia.com/mig.capable": "true",
        "nvidia.com/mig.strategy": cluster.mig_strategy,
        "nvidia.com/gfd.timestamp": "1767225600",
    }
    if pool.mig_config is None and pool.system.is_nvl_rack:
        # the GPU Operator labels MIG-capable nodes with the default config; other pools'
        # nodes are left without the label: both are fine for a pool without MIG
        labels["nvidia.com/mig.config"] = "all-disabled"
    if pool.mig_config is not None or pool.system.is_nvl_rack:
        labels["nvidia.com/mig.config.state"] = "success"
    return labels


def node_object(name: str, labels: dict[str, str], ready: bool = True) -> dict[str, Any]:
    condition = ({"type": "Ready", "status": "True", "reason": "KubeletReady",
                  "message": "kubelet is posting ready status"} if ready else
                 {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                  "message": "Kubelet stopped posting node status."})
    condition["lastHeartbeatTime"] = condition["lastTransitionTime"] = "2026-01-01T00:00:00Z"
    return {"metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "1",
                         "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                    **labels}},
            "spec": {},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, condition]}}


def healthy_nodes(cluster: Cluster) -> list[dict[str, Any]]:
    nodes = []
    for pool in cluster.node_pools:
        gfd = gfd_labels(cluster, pool)
        if not pool.node_selector:
            named = nodes_of(node_feature_rule(cluster, pool))
            nodes += [node_object(n["name"], {**n["labels"], **gfd}) for n in named]
        else:  # a nodeSelector pool: existing nodes, labelled when they join (kubelet flags)
            labels = {**pool.node_selector, **pool_labels(pool), **gfd}
            nodes += [node_object(f"{pool.name}-{i:02d}", labels)
                      for i in range(1, pool.node_count + 1)]
    # a CPU node that belongs to no pool
    nodes.append(node_object("control-plane-1", {"node-role.kubernetes.io/control-plane": ""}))
    return nodes


def verify(server: FakeApiServer, tmp_path: Path, cluster: Cluster, **kwargs: Any) -> list:
    api = live.connect(kubeconfig(tmp_path, server.url), None)
    return live.verify_cluster(cluster, api, **kwargs)


# -- tests ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("blueprint", [GWANGJU, SEOUL], ids=["gwangju-gb200", "seoul-rtxpro"])
def test_matching_cluster_has_no_findings(server, tmp_path, blueprint):
    _, cluster = resolved(blueprint)
    server.nodes = healthy_nodes(cluster)
    assert verify(server, tmp_path, cluster) == []
    # only node lists, bounded, authenticated, on the fake server
    assert server.requests
    for path, query, auth in server.requests:
        assert path == "/api/v1/nodes"
        assert int(query["limit"][0]) == live.PAGE_SIZE and query["labelSelector"][0]
        assert auth == f"Bearer {TOKEN}"


def test_the_bundled_blueprints_have_the_shapes_these_tests_expect():
    _, gwangju = resolved(GWANGJU)
    assert [(p.name, p.node_count, len(live.hostnames(p))) for p in gwangju.node_pools] == [
        ("gb200", 288, 288), ("b200-infer", 31, 31)]
    assert live.hostnames(gwangju.node_pools[0])[:2] == ["gj1-r01-t01", "gj1-r01-t02"]
    assert gwangju.mig_strategy == "mixed"
    _, seoul = resolved(SEOUL)
    shared = seoul.pool("rtx-shared")
    assert shared is not None and not live.hostnames(shared) and dict(shared.node_selector)


def test_every_difference_is_reported_once_with_its_code(server, tmp_path):
    _, cluster = resolved(GWANGJU)
    server.nodes = [n for n in healthy_nodes(cluster) if n["metadata"]["name"] != "gj1-r02-t03"]
    gb200_labels = dict(server.labels("gj1-r01-t01"))
    server.nodes.append(node_object("gj1-r17-t01", {**gb200_labels, "aifab.dev/rack": "17"}))
    del server.labels("gj1-r03-t01")["aifab.dev/pool"]
    server.labels("gj1-b200-005")["nvidia.com/gpu.product"] = "NVIDIA-H100-80GB-HBM3"
    server.labels("gj1-r05-t10")["nvidia.com/gpu.count"] = "3"
    old = {"nvidia.com/cuda.driver-version.full": "570.124.06",
           "nvidia.com/cuda.driver-version.major": "570",
           "nvidia.com/cuda.driver-version.minor": "124",
           "nvidia.com/cuda.driver-version.revision": "06"}
    server.labels("gj1-b200-010").update(old)
    server.labels("gj1-b200-020")["nvidia.com/mig.config.state"] = "failed"
    server.node("gj1-r09-t18").update(node_object("gj1-r09-t18", server.labels("gj1-r09-t18"),
                                                  ready=False))

    findings = verify(server, tmp_path, cluster)
    got = [(f.code, f.message) for f in findings]
    assert got == [
        ("AF501", "pool gb200: node gj1-r02-t03 is not in the cluster"),
        ("AF502", "pool gb200: node gj1-r03-t01 is in the cluster but not labelled "
                  "aifab.dev/pool=gb200 (it has no aifab.dev/pool label)"),
        ("AF503", "pool gb200: node gj1-r17-t01 carries aifab.dev/pool=gb200 but the blueprint "
                  "does not name it"),
        ("AF506", "pool gb200: node gj1-r05-t10 has nvidia.com/gpu.count=3, expected 4"),
        ("AF509", "pool gb200: node gj1-r09-t18 is not Ready (Ready=Unknown: NodeStatusUnknown)"),
        ("AF505", "pool b200-infer: node gj1-b200-005 has nvidia.com/gpu.product="
                  "NVIDIA-H100-80GB-HBM3, expected NVIDIA-B200"),
        ("AF507", "pool b200-infer: node gj1-b200-010 runs an older driver, 570.124.06; "
                  "the blueprint pins 580.126.20"),
        ("AF508", "pool b200-infer: node gj1-b200-020 has nvidia.com/mig.config.state=failed "
                  "for MIG config all-balanced"),
    ]
    assert all(f.severity is Severity.ERROR and f.hint for f in findings)
    gb200, b200 = cluster.node_pools
    assert {f.path for f in findings[:5]} == {gb200.path}
    assert {f.path for f in findings[5:]} == {b200.path}
    assert set(live.CODES) >= {f.code for f in findings}
    # the same cluster gives the same findings in the same order
    assert verify(server, tmp_path, cluster) == findings


def test_findings_are_placed_at_their_pool(server, tmp_path):
    result, cluster = resolved(GWANGJU)
    server.nodes = healthy_nodes(cluster)
    server.labels("gj1-b200-031")["nvidia.com/gpu.count"] = "7"
    (f,) = [result.document.place(f) for f in verify(server, tmp_path, cluster)]
    line = next(i for i, text in enumerate(GWANGJU.read_text().splitlines(), 1)
                if "- name: b200-infer" in text)
    assert (f.file, f.line, f.code) == (str(GWANGJU), line, "AF506")
    assert f.json_path == "spec.nodePools[1]"


def test_selector_pool_is_checked_by_count(server, tmp_path):
    _, cluster = resolved(SEOUL)
    server.nodes = [n for n in healthy_nodes(cluster) if n["metadata"]["name"] != "rtx-shared-06"]
    findings = verify(server, tmp_path, cluster)
    assert [(f.code, f.message) for f in findings] == [
        ("AF504", "pool rtx-shared: 5 nodes match aifab.dev/pool=rtx-shared, "
                  "the blueprint expects 6")]
    extra = dict(server.labels("rtx-shared-01"))
    server.nodes += [node_object("rtx-shared-06", extra), node_object("rtx-shared-07", extra)]
    assert [f.message for f in verify(server, tmp_path, cluster)] == [
        "pool rtx-shared: 7 nodes match aifab.dev/pool=rtx-shared, the blueprint expects 6"]


def test_selector_pool_nodes_get_the_node_checks(server, tmp_path):
    _, cluster = resolved(SEOUL)
    server.nodes = healthy_nodes(cluster)
    # time-sliced GPUs must show the -SHARED suffix GFD adds (k8s-device-plugin README)
    server.labels("rtx-shared-03")["nvidia.com/gpu.product"] = (
        "NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition")
    server.labels("se2-rtx-04")["nvidia.com/mig.config.state"] = "pending"
    server.labels("se2-rtx-05")["nvidia.com/mig.config"] = "all-disabled"
    findings = verify(server, tmp_path, cluster)
    assert [(f.code, f.severity, f.message) for f in findings] == [
        ("AF508", Severity.WARNING, "pool rtx-mig: node se2-rtx-04 has nvidia.com/mig.config.state="
                                    "pending for MIG config all-balanced (still being applied)"),
        ("AF508", Severity.ERROR, "pool rtx-mig: node se2-rtx-05 has nvidia.com/mig.config="
                                  "all-disabled, expected all-balanced"),
        ("AF505", Severity.ERROR, "pool rtx-shared: node rtx-shared-03 has nvidia.com/gpu.product="
                                  "NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition, expected "
                                  "NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition-SHARED"),
    ]


def test_pagination_follows_continue_tokens(server, tmp_path):
    _, cluster = resolved(GWANGJU)
    server.nodes = healthy_nodes(cluster)
    server.labels("gj1-r16-t18")["nvidia.com/gpu.count"] = "2"  # on the last page
    findings = verify(server, tmp_path, cluster, page_size=7)
    assert [(f.code, f.message) for f in findings] == [
        ("AF506", "pool gb200: node gj1-r16-t18 has nvidia.com/gpu.count=2, expected 4")]
    gb200 = [q for path, q, _ in server.requests if q["labelSelector"] == ["aifab.dev/pool=gb200"]]
    assert len(gb200) == -(-288 // 7)  # 42 pages of 7 for 288 trays
    assert "continue" not in gb200[0] and all("continue" in q for q in gb200[1:])
    assert all(q["limit"] == ["7"] for q in gb200)


def test_missing_nodes_are_looked_up_by_hostname_in_bounded_queries(server, tmp_path):
    _, cluster = resolved(GWANGJU)
    server.nodes = [n for n in healthy_nodes(cluster)
                    if not n["metadata"]["name"].startswith("gj1-b200-")]
    findings = verify(server, tmp_path, cluster)
    assert [f.code for f in findings] == ["AF501"] * 31
    assert findings[0].message == "pool b200-infer: node gj1-b200-001 is not in the cluster"
    lookups = [q["labelSelector"][0] for _, q, _ in server.requests
               if q["labelSelector"][0].startswith("kubernetes.io/hostname in (")]
    assert len(lookups) == 1 and lookups[0].count(",") == 30


def test_driver_from_the_version_parts_and_deprecated_labels(server, tmp_path):
    _, cluster = resolved(GWANGJU)
    server.nodes = healthy_nodes(cluster)
    del server.labels("gj1-b200-001")["nvidia.com/cuda.driver-version.full"]
    for key in [k for k in server.labels("gj1-b200-002") if "driver-version" in k]:
        del server.labels("gj1-b200-002")[key]
    for key in [k for k in server.labels("gj1-b200-003") if "cuda.driver" in k]:
        del server.labels("gj1-b200-003")[key]
    assert [(f.code, f.message) for f in verify(server, tmp_path, cluster)] == [
        ("AF507", "pool b200-infer: node gj1-b200-003 has no "
                  "nvidia.com/cuda.driver-version.full label, expected driver 580.126.20")]


def test_node_without_gfd_labels_is_one_finding(server, tmp_path):
    _, cluster = resolved(GWANGJU)
    server.nodes = healthy_nodes(cluster)
    labels = server.labels("gj1-r01-t02")
    for key in [k for k in labels if k.startswith("nvidia.com/") and "mig.config" not in k]:
        del labels[key]
    (f,) = verify(server, tmp_path, cluster)
    assert (f.code, f.message) == ("AF505", "pool gb200: node gj1-r01-t02 has no "
                                            "nvidia.com/gpu.product label, expected NVIDIA-GB200")


def test_expected_labels_under_the_single_mig_strategy():
    _, cluster = resolved(GWANGJU)
    single = replace(cluster, gpu_operator=replace(cluster.gpu_operator, mig_strategy="single"))
    b200 = replace(cluster.node_pools[1], mig_config="all-1g.23gb")
    assert live.expected(single, b200) == live.Expected(
        "NVIDIA-B200-MIG-1g.23gb", 8 * 7, ("all-1g.23gb",))
    # under mixed, gpu.product and gpu.count describe the physical GPUs
    assert live.expected(cluster, cluster.node_pools[1]) == live.Expected(
        "NVIDIA-B200", 8, ("all-balanced",))
    # no MIG config: the chart's default (all-disabled) or no label at all
    assert live.expected(cluster, cluster.node_pools[0]).mig_configs == ("all-disabled", "")


def test_unreachable_server_is_a_clean_af510(tmp_path, monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    port = closed_port()
    _, cluster = resolved(GWANGJU)
    api = live.connect(kubeconfig(tmp_path, f"http://127.0.0.1:{port}"), None)
    started = time.monotonic()
    findings = live.verify_cluster(cluster, api)
    assert time.monotonic() - started < 20
    (f,) = findings
    assert f.code == "AF510" and f.path == () and f.is_error
    assert f.message.startswith(f"cannot reach the API server at http://127.0.0.1:{port}: ")
    assert f.message.endswith("Connection refused")  # the cause, not urllib3's retry story
    assert f.hint


def test_a_server_that_does_not_answer_times_out(server, tmp_path, monkeypatch):
    monkeypatch.setattr(live, "READ_TIMEOUT", 0.3)
    _, cluster = resolved(SEOUL)
    server.delay = 2.0
    started = time.monotonic()
    (f,) = verify(server, tmp_path, cluster)
    assert time.monotonic() - started < 1 + (live.RETRIES + 1) * 0.3 * 2
    assert f.code == "AF510" and "Read timed out. (read timeout=0.3)" in f.message


def test_context_selects_the_cluster(server, tmp_path):
    _, cluster = resolved(SEOUL)
    server.nodes = healthy_nodes(cluster)
    config = kubeconfig(tmp_path, f"http://127.0.0.1:{closed_port()}", other_url=server.url)
    assert live.verify_cluster(cluster, live.connect(config, "other")) == []
    (f,) = live.verify_cluster(cluster, live.connect(config, None))
    assert f.code == "AF510"


def test_kubeconfig_problems_raise_live_error(tmp_path):
    with pytest.raises(live.LiveError) as missing:
        live.connect(tmp_path / "nope", None)
    assert missing.value.finding.code == "AF510"
    config = kubeconfig(tmp_path, "http://127.0.0.1:9")
    with pytest.raises(live.LiveError, match="context 'prod' of kubeconfig"):
        live.connect(config, "prod")
    before = config.read_text()
    live.connect(config, None)
    assert config.read_text() == before  # never written back


def test_forbidden_is_a_clean_af510_with_an_rbac_hint(server, tmp_path):
    _, cluster = resolved(SEOUL)
    server.fail_with = 403
    (f,) = verify(server, tmp_path, cluster)
    assert f.code == "AF510"
    assert f.message.startswith("the API server answered 403 Forbidden to GET /api/v1/nodes")
    assert 'cannot list resource "nodes"' in f.message
    assert "kubectl auth can-i list nodes" in f.hint
