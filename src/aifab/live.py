"""`aifab verify`: compare a running cluster's Node objects with the blueprint.

Reads only Nodes (`GET /api/v1/nodes`, with label selectors and `limit`/`continue` paging), and
checks per node pool:

- the nodes the blueprint names exist (AF501) and carry `aifab.dev/pool=<pool>` (AF502), and no
  other node carries that label (AF503); a pool without hostnames (a `nodeSelector` pool) is
  checked by count: nodes matching its selector vs its `nodes` (AF504);
- the labels GPU Feature Discovery (GFD) sets: `nvidia.com/gpu.product` (AF505),
  `nvidia.com/gpu.count` (AF506) and `nvidia.com/cuda.driver-version.full` (AF507);
- the MIG Manager's `nvidia.com/mig.config` and `nvidia.com/mig.config.state` (AF508);
- the node's `Ready` condition (AF509).
AF510 is a cluster that cannot be read at all (kubeconfig, connection, API error), or an
answer that is not what the API server sends: not a NodeList, a node without a name, a label
that is not a label, more nodes than `limit` asked for. Reading is bounded whatever the
server does: an overall deadline (`aifab verify --timeout`), a cap on the bytes of each
answer and of all of them, on the nodes and on the pages; what the server says is clipped
and escaped before it is shown.

Label names and values, as GFD and mig-manager write them:
- GFD (NVIDIA/k8s-device-plugin, docs/gpu-feature-discovery/README.md "Generated Labels";
  internal/lm/resource.go, mig-strategy.go, nvml.go): `gpu.product` is the NVML name with
  spaces replaced by dashes; `-SHARED` is appended when the resource is shared (time-slicing or
  MPS replicas > 1) and not renamed; MIG-enabled GPUs are labelled without sharing. Under the
  `single` MIG strategy `gpu.product` becomes `<product>-MIG-<profile>` and `gpu.count` the
  number of MIG devices (`<product>-MIG-INVALID` and count 0 when the node cannot be labelled
  under `single`); under `mixed` (and `none`) `gpu.product`/`gpu.count` describe the physical
  GPUs. Driver labels: `nvidia.com/cuda.driver-version.{full,major,minor,revision}`, with the
  deprecated `nvidia.com/cuda.driver.{major,minor,rev}` kept by GFD for older readers.
- mig-manager (NVIDIA/mig-parted, deployments/container/reconfigure-mig.sh) writes
  `nvidia.com/mig.config.state` = `pending`, `rebooting`, `success` or `failed`; nodes without
  `nvidia.com/mig.config` get the chart's default config (`all-disabled`).

`verify_cluster` returns unplaced `Finding`s whose path is the pool (`pool.path`; `()` for
AF510): the caller places them with `Document.place`, like the rule findings. The pool and node
are named in the message. `kubernetes` is imported only here, inside functions, so
`aifab validate` never needs it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from aifab.catalog import version_tuple
from aifab.diagnostics import Finding, Severity, finding
from aifab.expand.gpu_operator import MIG_CONFIG_LABEL, MIG_DISABLED
from aifab.model import Cluster, NodePool
from aifab.naming import LABEL_POOL, hostnames

if TYPE_CHECKING:  # pragma: no cover
    from kubernetes.client import CoreV1Api

CODES = {
    "AF501": "node named by the blueprint is not in the cluster",
    "AF502": "node is in the cluster without its pool label",
    "AF503": "node carries the pool label but the blueprint does not name it",
    "AF504": "nodes matching a pool's selector differ from its node count",
    "AF505": "GPU product label does not match the pool's system",
    "AF506": "GPU count label does not match the pool's system",
    "AF507": "driver version differs from the blueprint's",
    "AF508": "MIG configuration not applied",
    "AF509": "node is not Ready",
    "AF510": "cannot read the cluster",
}

LABEL_HOSTNAME = "kubernetes.io/hostname"
GFD_PRODUCT = "nvidia.com/gpu.product"
GFD_COUNT = "nvidia.com/gpu.count"
GFD_DRIVER_FULL = "nvidia.com/cuda.driver-version.full"
GFD_DRIVER_PARTS = ("nvidia.com/cuda.driver-version.major", "nvidia.com/cuda.driver-version.minor",
                    "nvidia.com/cuda.driver-version.revision")
GFD_DRIVER_PARTS_DEPRECATED = ("nvidia.com/cuda.driver.major", "nvidia.com/cuda.driver.minor",
                               "nvidia.com/cuda.driver.rev")
MIG_STATE_LABEL = "nvidia.com/mig.config.state"
MIG_STATES_IN_PROGRESS = ("pending", "rebooting")

PAGE_SIZE = 500          # kubectl's default chunk size
NAMES_PER_QUERY = 40     # hostnames per `kubernetes.io/hostname in (...)` selector
MAX_PAGES = 1000         # per list: a server that never stops paging is an error, not a hang
# Nodes read in one run, all lists together: 4x the 5,000 nodes Kubernetes supports in a
# cluster (kubernetes.io/docs/setup/best-practices/cluster-large/); pools are listed apart
MAX_NODES = 20_000
MAX_RESPONSE_BYTES = 32 << 20  # one answer: a page of 500 nodes, image lists and all, is a few MB
MAX_TOTAL_BYTES = 256 << 20    # all answers of one run
MAX_TOKEN_CHARS = 4096         # a continue token (the API server's: base64 of a small JSON)
READ_CHUNK = 1 << 16
DEADLINE = 120.0         # seconds for the whole run (`aifab verify --timeout`)
CONNECT_TIMEOUT = 5.0    # seconds
READ_TIMEOUT = 30.0
SERVER_TIMEOUT = 60      # `timeoutSeconds` the API server applies to each list call
RETRIES = 2              # urllib3 retries per request (connection errors)
SHOWN_CHARS = 300        # of anything the server says, in a message


class LiveError(Exception):
    """The cluster could not be read; `finding` is the AF510 finding to report."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.finding = finding("AF510", message, (), hint=hint)


# -- connecting -------------------------------------------------------------------------------------

def connect(kubeconfig: FsPath, context: str | None = None) -> CoreV1Api:
    """A CoreV1Api for `context` (default: the current context) of `kubeconfig`.

    The kubeconfig is never written back (`persist_config=False`); requests have bounded
    retries. Raises LiveError when the file or context cannot be used.
    """
    from kubernetes import client, config

    path = FsPath(kubeconfig)
    if not path.is_file():
        raise LiveError(f"kubeconfig {path} does not exist",
                        "pass --kubeconfig with the path of a kubeconfig file")
    configuration = client.Configuration()
    configuration.retries = RETRIES
    try:
        api_client = config.new_client_from_config(
            config_file=str(path), context=context, persist_config=False,
            client_configuration=configuration)
    except (config.ConfigException, OSError, ValueError, TypeError, KeyError) as e:
        what = f"context '{context}' of " if context else ""
        raise LiveError(f"cannot use {what}kubeconfig {path}: {_one_line(e)}",
                        "check the file with `kubectl --kubeconfig ... config get-contexts`") from None
    return client.CoreV1Api(api_client)


# -- reading nodes ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Node:
    """What the checks need of a Node object."""

    name: str
    labels: Mapping[str, str]
    ready: str      # "True", "False" or "Unknown" (no Ready condition)
    reason: str     # of the Ready condition


@dataclass
class Budget:
    """What one run may spend reading the cluster: time, bytes and nodes. Every answer is
    read under it (`bounded`), whatever the server sends or how slowly."""

    seconds: float
    deadline: float = field(init=False)
    bytes_left: int = field(init=False)
    nodes_left: int = field(init=False)

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.seconds
        self.bytes_left, self.nodes_left = MAX_TOTAL_BYTES, MAX_NODES

    def left(self) -> float:
        """Seconds left; LiveError when there are none."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise LiveError(f"the API server did not answer in full within {self.seconds:g} s",
                            "a slow link or a very large cluster: raise --timeout; an API "
                            "server that trickles its answers is not healthy")
        return left

    def nodes(self, count: int) -> None:
        self.nodes_left -= count
        if self.nodes_left < 0:
            raise LiveError(f"the API server sent more than {MAX_NODES} nodes in all",
                            "no cluster has that many; check the server address")

    def read(self, response: Any, url: str) -> bytes:
        """The body of `response`, a chunk at a time, within the deadline and the caps."""
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise LiveError(f"the API server sent its answer to GET {_shown(url)} encoded as "
                            f"{_shown(encoding)}, which aifab did not ask for", _NOT_AN_API_SERVER)
        cap = min(MAX_RESPONSE_BYTES, self.bytes_left)
        chunks: list[bytes] = []
        size = 0
        while True:
            self.left()
            chunk = response.read1(READ_CHUNK, decode_content=False)
            if not chunk:
                break
            size += len(chunk)
            if size > cap:
                raise LiveError(f"the API server's answer to GET {_shown(url)} is larger than "
                                f"{cap} bytes" + ("" if cap == MAX_RESPONSE_BYTES else
                                                  f" ({MAX_TOTAL_BYTES} bytes in all)"),
                                _NOT_AN_API_SERVER)
            chunks.append(chunk)
        self.bytes_left -= size
        return b"".join(chunks)


_NOT_AN_API_SERVER = ("this is not what a Kubernetes API server sends; check the kubeconfig's "
                      "server address (`kubectl get --raw /version`)")


class _BoundedPool:
    """The client's connection pool, every request timed and every answer read under a
    Budget. The kubernetes client sends each request through `pool_manager.request`
    (kubernetes/client/rest.py, RESTClientObject.request, v31.0.0 to v37.0.2); the answer it
    gets back is already read, so neither the client nor ApiException reads more."""

    def __init__(self, pool: Any, budget: Budget) -> None:
        self._pool, self._budget = pool, budget

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        import urllib3

        each = self._budget.left() / (RETRIES + 1)  # retries included, within the deadline
        kwargs["timeout"] = urllib3.Timeout(connect=min(CONNECT_TIMEOUT, each),
                                            read=min(READ_TIMEOUT, each))
        kwargs["preload_content"] = False
        response = self._pool.request(method, url, **kwargs)
        try:
            body = self._budget.read(response, url)
        except BaseException:
            response.close()
            raise
        response.release_conn()
        return urllib3.HTTPResponse(body=body, headers=response.headers, status=response.status,
                                    reason=response.reason, preload_content=True)


def list_nodes(api: CoreV1Api, selector: str, *, page_size: int = PAGE_SIZE,
               budget: Budget | None = None) -> list[Node]:
    """Every node matching the label `selector`, following `continue` tokens, within the
    `budget` (default: a fresh one)."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    budget = budget or Budget(DEADLINE)
    rest = api.api_client.rest_client
    original = rest.pool_manager
    rest.pool_manager = _BoundedPool(original, budget)
    try:
        nodes: list[Node] = []
        token: str | None = None
        what = f"GET /api/v1/nodes?labelSelector={selector}"
        for _ in range(MAX_PAGES):
            kwargs: dict[str, Any] = {"label_selector": selector, "limit": page_size,
                                      "timeout_seconds": SERVER_TIMEOUT,
                                      "_preload_content": False}
            if token:
                kwargs["_continue"] = token
            try:
                body = api.list_node(**kwargs).data
            except ApiException as e:
                reason = _shown(str(e.reason or ""))
                raise LiveError(f"the API server answered {e.status} {reason} to {what}"
                                f"{_api_message(e)}", _api_hint(e.status)) from None
            except (HTTPError, OSError) as e:
                host = api.api_client.configuration.host
                raise LiveError(f"cannot reach the API server at {host}: "
                                f"{_transport_reason(e)}",
                                "check the kubeconfig's server address, the network path and "
                                "VPN, and that the API server is up (`kubectl get --raw "
                                "/readyz`)") from None
            items, token = _page(body, page_size, what)
            budget.nodes(len(items))
            nodes.extend(items)
            if not token:
                return nodes
    finally:
        rest.pool_manager = original
    raise LiveError(f"the API server kept paging after {MAX_PAGES} pages of {page_size} nodes",
                    _NOT_AN_API_SERVER)


def _page(body: bytes, limit: int, what: str) -> tuple[list[Node], str | None]:
    """The nodes of one NodeList page and its `continue` token; LiveError for anything the
    API server would not send (its NodeList, ObjectMeta and NodeCondition types)."""
    def wrong(problem: str) -> LiveError:
        return LiveError(f"the API server's answer to {what} {problem}", _NOT_AN_API_SERVER)

    try:
        page = json.loads(body)
    except (ValueError, RecursionError):
        start = body[:SHOWN_CHARS].decode(errors="replace")
        raise wrong(f"is not JSON: {_shown(start)}") from None
    if not isinstance(page, dict) or not isinstance(page.get("items"), list):
        raise wrong("is not a NodeList (no list of items)")
    items = page["items"]
    if len(items) > limit:
        raise wrong(f"has {len(items)} nodes, more than the {limit} asked for (limit)")
    meta = page.get("metadata") or {}
    if not isinstance(meta, dict):
        raise wrong("has metadata that is not a map")
    token = meta.get("continue")
    if token is not None and (not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS):
        raise wrong(f"has a continue token that is not a string of at most {MAX_TOKEN_CHARS} "
                    "characters")
    return [_node(item, wrong) for item in items], token or None


_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_CONDITION_STATUS = ("True", "False", "Unknown")


def _node(item: Any, wrong: Any) -> Node:
    """A Node of the page, checked as the API server validates it (apimachinery
    pkg/util/validation: names are DNS subdomains, labels qualified names with values of at
    most 63 characters; a condition's status is True, False or Unknown)."""
    meta = item.get("metadata") if isinstance(item, dict) else None
    if not isinstance(meta, dict):
        raise wrong("has a node without metadata")
    name = meta.get("name")
    if not isinstance(name, str) or not _DNS_SUBDOMAIN.fullmatch(name):
        shown = "no name" if not name else f"the name {_shown(str(name))}"
        raise wrong(f"has a node with {shown}, not a node name")
    labels = meta.get("labels") or {}
    if not isinstance(labels, dict):
        raise wrong(f"has node {name} with labels that are not a map")
    for key, value in labels.items():
        if not _label_key(key) or not isinstance(value, str) or not _LABEL_VALUE.fullmatch(value):
            raise wrong(f"has node {name} with the label {_shown(key)}={_shown(str(value))}, "
                        "which is not a Kubernetes label")
    status = item.get("status") or {}
    conditions = (status.get("conditions") or []) if isinstance(status, dict) else None
    if not isinstance(conditions, list) or not all(isinstance(c, dict) for c in conditions):
        raise wrong(f"has node {name} with status.conditions that are not a list of conditions")
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    if ready is None:
        return Node(name, labels, "Unknown", "no Ready condition")
    reason = ready.get("reason") or ""
    if ready.get("status") not in _CONDITION_STATUS or not isinstance(reason, str):
        raise wrong(f"has node {name} with a Ready condition whose status is not one of "
                    f"{', '.join(_CONDITION_STATUS)}")
    return Node(name, labels, ready["status"], _shown(reason))


def _label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    return bool(_LABEL_NAME.fullmatch(name)) and (
        not prefix or (len(prefix) <= 253 and bool(_DNS_SUBDOMAIN.fullmatch(prefix))))


def _selector(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# -- what GFD should report -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Expected:
    """The GFD and MIG labels a healthy node of a pool carries."""

    product: str
    count: int
    mig_configs: tuple[str, ...]  # accepted nvidia.com/mig.config values; "" = label absent


def expected(cluster: Cluster, pool: NodePool) -> Expected:
    gpu = pool.system.gpu
    per_node = pool.system.gpus_per_node
    mig_on = pool.mig_config not in (None, MIG_DISABLED)
    shared = pool.sharing is not None and pool.sharing.replicas > 1
    if pool.uses_mig and cluster.mig_strategy == "single" and len(pool.mig_profiles) == 1:
        # single: nvidia.com/gpu stands for the MIG devices; the config shares nvidia.com/gpu
        (profile, instances), = pool.mig_profiles.items()
        product = f"{gpu.gfd_product}-MIG-{profile}" + ("-SHARED" if shared else "")
        count = per_node * instances
    else:
        # MIG-enabled GPUs are labelled without sharing (mig-strategy.go, newGPULabelers)
        product = gpu.gfd_product + ("-SHARED" if shared and not mig_on else "")
        count = per_node
    configs = (pool.mig_config,) if pool.mig_config is not None else (MIG_DISABLED, "")
    return Expected(product, count, configs)


def driver_version(labels: Mapping[str, str]) -> str | None:
    """The driver version GFD reports: the full label, else joined from its parts."""
    if full := labels.get(GFD_DRIVER_FULL):
        return full
    for keys in (GFD_DRIVER_PARTS, GFD_DRIVER_PARTS_DEPRECATED):
        parts = [labels.get(k, "") for k in keys]
        if parts[0] and parts[1]:
            return ".".join(p for p in parts if p)
    return None


# -- checks -----------------------------------------------------------------------------------------

def verify_cluster(cluster: Cluster, api: CoreV1Api, *, page_size: int = PAGE_SIZE,
                   timeout: float | None = None) -> list[Finding]:
    """Findings for every difference between the blueprint and the cluster's nodes: pool by
    pool in blueprint order, first the pool's membership (AF501-AF504, by node name), then
    each node by name (AF505-AF509). A cluster that cannot be read, or not within `timeout`
    seconds (default DEADLINE), gives a single AF510 finding (path `()`), never an
    exception."""
    try:
        budget = Budget(DEADLINE if timeout is None else timeout)
        out: list[Finding] = []
        for pool in cluster.node_pools:
            out += _check_pool(cluster, pool, api, page_size, budget)
        return out
    except LiveError as e:
        return [e.finding]


def _check_pool(cluster: Cluster, pool: NodePool, api: CoreV1Api,
                page_size: int, budget: Budget) -> list[Finding]:
    names = hostnames(pool)
    out: list[Finding] = []
    if names:
        labelled = {n.name: n for n in list_nodes(api, _selector({LABEL_POOL: pool.name}),
                                                  page_size=page_size, budget=budget)}
        wanted = set(names)
        absent = sorted(wanted - labelled.keys())
        found: dict[str, Node] = {}
        for chunk in _chunks(absent, NAMES_PER_QUERY):
            selector = f"{LABEL_HOSTNAME} in ({','.join(chunk)})"
            found.update((n.name, n) for n in list_nodes(api, selector, page_size=page_size,
                                                         budget=budget)
                         if n.name in wanted)
        for name in absent:
            if name not in found:
                out.append(_f(pool, "AF501", f"node {name} is not in the cluster",
                              "join the node under this name (kubelet --hostname-override if "
                              "needed), or change the pool's size or hostnames"))
        for name in sorted(found):
            other = found[name].labels.get(LABEL_POOL)
            has = f"it has {LABEL_POOL}={other}" if other else f"it has no {LABEL_POOL} label"
            out.append(_f(pool, "AF502", f"node {name} is in the cluster but not labelled "
                          f"{LABEL_POOL}={pool.name} ({has})",
                          _labels_hint(cluster, pool)))
        for name in sorted(labelled.keys() - wanted):
            out.append(_f(pool, "AF503", f"node {name} carries {LABEL_POOL}={pool.name} but the "
                          "blueprint does not name it",
                          "remove the label from the node, or grow the pool so that its "
                          "hostnames include it"))
        nodes = [labelled.get(name) or found[name] for name in sorted(wanted)
                 if name in labelled or name in found]
    else:
        selector = _selector(pool.node_selector or {LABEL_POOL: pool.name})
        nodes = sorted(list_nodes(api, selector, page_size=page_size, budget=budget),
                       key=lambda n: n.name)
        if len(nodes) != pool.node_count:
            out.append(_f(pool, "AF504", f"{len(nodes)} node{'s' if len(nodes) != 1 else ''} "
                          f"match {selector}, the blueprint expects {pool.node_count}",
                          "label the nodes that belong to the pool (or unlabel extra ones), "
                          "or change the pool's `nodes`"))
    want = expected(cluster, pool)
    for node in nodes:
        out += _check_node(cluster, pool, node, want)
    return out


def _check_node(cluster: Cluster, pool: NodePool, node: Node,
                want: Expected) -> Iterator[Finding]:
    labels = node.labels
    name = node.name
    product = labels.get(GFD_PRODUCT)
    gfd_hint = ("GPU Feature Discovery writes the nvidia.com/* labels; check its pod on the node "
                "and `nvidia-smi -L` there")
    if product is None:
        yield _f(pool, "AF505", f"node {name} has no {GFD_PRODUCT} label, expected {want.product}",
                 gfd_hint)
    else:
        if product != want.product:
            hint = (f"the system {pool.system.id} has {pool.system.gpu.name} GPUs; " + (
                "GFD could not label this node under the single MIG strategy: its GPUs have mixed "
                "or empty MIG configs" if product.endswith("-MIG-INVALID") else
                "is the node in the right pool, and is its device-plugin config the pool's?"))
            yield _f(pool, "AF505", f"node {name} has {GFD_PRODUCT}={product}, "
                     f"expected {want.product}", hint)
        count = labels.get(GFD_COUNT)
        if count != str(want.count) and not product.endswith("-MIG-INVALID"):
            shown = f"{GFD_COUNT}={count}" if count is not None else f"no {GFD_COUNT} label"
            yield _f(pool, "AF506", f"node {name} has {shown}, expected {want.count}",
                     "a GPU the system should have is not visible: check `nvidia-smi`, the "
                     "kernel log for Xid errors, and the GPU's seating and power")
        have = driver_version(labels)
        if have != pool.driver_version:
            yield _f(pool, "AF507", _driver_message(name, have, pool.driver_version),
                     "the GPU Operator's driver DaemonSet (or the pool's NVIDIADriver) installs "
                     "the blueprint's version; check its pod on the node and whether a host "
                     "driver is pre-installed")
    yield from _check_mig(cluster, pool, node, want)
    if node.ready != "True":
        why = f": {node.reason}" if node.reason else ""
        yield _f(pool, "AF509", f"node {name} is not Ready (Ready={node.ready}{why})",
                 f"`kubectl describe node {name}` shows the conditions and the kubelet's events")


def _labels_hint(cluster: Cluster, pool: NodePool) -> str:
    """Where a node's aifab labels come from: the pool's NodeFeatureRule (node_pools), which
    nfd-master applies to the nodes it names once their nfd-worker reports them; a selector
    pool's from the kubelet flags the provisioning tool sets."""
    if pool.node_selector:
        return (f"join the node with the kubelet flags of generated/{cluster.name}/node-pools/"
                f"{pool.name}.md")
    return (f"apply generated/{cluster.name}/node-pools/{pool.name}.yaml (a NodeFeatureRule) "
            "and check that the GPU Operator's nfd-master and the node's nfd-worker run")


def _check_mig(cluster: Cluster, pool: NodePool, node: Node,
               want: Expected) -> Iterator[Finding]:
    config = node.labels.get(MIG_CONFIG_LABEL, "")
    if config not in want.mig_configs:
        shown = f"{MIG_CONFIG_LABEL}={config}" if config else f"no {MIG_CONFIG_LABEL} label"
        yield _f(pool, "AF508", f"node {node.name} has {shown}, expected "
                 f"{want.mig_configs[0]}",
                 _labels_hint(cluster, pool) + "; mig-manager applies the config the label "
                 "names")
        return
    state = node.labels.get(MIG_STATE_LABEL)
    if state is None or state == "success":
        return
    message = f"node {node.name} has {MIG_STATE_LABEL}={state} for MIG config {config or MIG_DISABLED}"
    hint = ("mig-manager's pod on the node logs why (`kubectl logs -n gpu-operator "
            "-l app=nvidia-mig-manager`); the config must be valid for the GPU and the GPUs idle")
    if state in MIG_STATES_IN_PROGRESS:
        yield _f(pool, "AF508", message + " (still being applied)", hint, Severity.WARNING)
    else:
        yield _f(pool, "AF508", message, hint)


def _driver_message(name: str, have: str | None, want: str) -> str:
    if have is None:
        return f"node {name} has no {GFD_DRIVER_FULL} label, expected driver {want}"
    try:
        older = version_tuple(have) < version_tuple(want)
        what = "an older" if older else "a newer" if version_tuple(have) > version_tuple(want) else "a"
    except ValueError:
        what = "a"
    return f"node {name} runs {what} driver, {have}; the blueprint pins {want}"


def _f(pool: NodePool, code: str, message: str, hint: str,
       severity: Severity = Severity.ERROR) -> Finding:
    return finding(code, f"pool {pool.name}: {message}", pool.path, hint=hint, severity=severity)


def _one_line(e: BaseException) -> str:
    return _shown(str(e)) or type(e).__name__


def _shown(text: str) -> str:
    """What a server (or an error about it) says, fit for a message: one line, control
    characters escaped, at most SHOWN_CHARS characters."""
    text = " ".join(text[:4 * SHOWN_CHARS].split())
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 3] + "..."


def _transport_reason(e: BaseException) -> str:
    """`[Errno 111] Connection refused` rather than urllib3's whole retry story."""
    reason = getattr(e, "reason", None)
    cause = reason if isinstance(reason, BaseException) else e
    # urllib3 errors carry (connection or pool, message): the message is what matters
    args = cause.args
    text = _one_line(cause) if len(args) < 2 or not isinstance(args[-1], str) else _one_line(
        Exception(args[-1]))
    text = text.split("Failed to establish a new connection: ", 1)[-1]
    return re.sub(r"^\w+\((host=)?[^)]*\):\s*", "", text)


def _api_message(e: Any) -> str:
    """The message of the Status object the API server sends with an error, if it sent one."""
    try:
        body = json.loads(e.body or "")
    except (ValueError, TypeError, RecursionError):
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    return f": {_shown(message)}" if isinstance(message, str) and message else ""


def _api_hint(status: int | None) -> str:
    if status in (401, 403):
        return ("the kubeconfig's user may not list nodes: `kubectl auth can-i list nodes` "
                "must say yes (a ClusterRole with nodes: get, list)")
    return "check the API server's health and the kubeconfig's server address"
