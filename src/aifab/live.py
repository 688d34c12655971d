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
AF510 is a cluster that cannot be read at all (kubeconfig, connection, API error).

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

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from aifab.catalog import version_tuple
from aifab.diagnostics import Finding, Severity, finding
from aifab.expand.common import LABEL_POOL
from aifab.expand.gpu_operator import MIG_CONFIG_LABEL, MIG_DISABLED
from aifab.model import Cluster, NodePool
from aifab.naming import hostnames

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
MAX_PAGES = 1000         # a server that never stops paging is an error, not a hang
CONNECT_TIMEOUT = 5.0    # seconds
READ_TIMEOUT = 30.0
SERVER_TIMEOUT = 60      # `timeoutSeconds` the API server applies to each list call
RETRIES = 2              # urllib3 retries per request (connection errors)


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


def list_nodes(api: CoreV1Api, selector: str, *, page_size: int = PAGE_SIZE) -> list[Node]:
    """Every node matching the label `selector`, following `continue` tokens."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    nodes: list[Node] = []
    token: str | None = None
    for _ in range(MAX_PAGES):
        kwargs: dict[str, Any] = {"label_selector": selector, "limit": page_size,
                                  "timeout_seconds": SERVER_TIMEOUT,
                                  "_request_timeout": (CONNECT_TIMEOUT, READ_TIMEOUT)}
        if token:
            kwargs["_continue"] = token
        try:
            page = api.list_node(**kwargs)
        except ApiException as e:
            raise LiveError(f"the API server answered {e.status} {e.reason} to GET /api/v1/nodes"
                            f"?labelSelector={selector}{_api_message(e)}",
                            _api_hint(e.status)) from None
        except (HTTPError, OSError) as e:
            host = api.api_client.configuration.host
            raise LiveError(f"cannot reach the API server at {host}: {_transport_reason(e)}",
                            "check the kubeconfig's server address, the network path and VPN, "
                            "and that the API server is up (`kubectl get --raw /readyz`)") from None
        nodes.extend(_node(item) for item in page.items or ())
        token = page.metadata._continue if page.metadata else None
        if not token:
            return nodes
    raise LiveError(f"the API server kept paging after {MAX_PAGES} pages of {page_size} nodes",
                    "this is not how the API server behaves; check the server address")


def _node(item: Any) -> Node:
    conditions = (item.status.conditions if item.status else None) or ()
    ready = next((c for c in conditions if c.type == "Ready"), None)
    return Node(item.metadata.name, dict(item.metadata.labels or {}),
                ready.status if ready else "Unknown",
                (ready.reason or "") if ready else "no Ready condition")


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

def verify_cluster(cluster: Cluster, api: CoreV1Api, *,
                   page_size: int = PAGE_SIZE) -> list[Finding]:
    """Findings for every difference between the blueprint and the cluster's nodes: pool by
    pool in blueprint order, first the pool's membership (AF501-AF504, by node name), then
    each node by name (AF505-AF509). An unreadable cluster gives a single AF510 finding
    (path `()`), never an exception."""
    try:
        out: list[Finding] = []
        for pool in cluster.node_pools:
            out += _check_pool(cluster, pool, api, page_size)
        return out
    except LiveError as e:
        return [e.finding]


def _check_pool(cluster: Cluster, pool: NodePool, api: CoreV1Api,
                page_size: int) -> list[Finding]:
    names = hostnames(pool)
    out: list[Finding] = []
    if names:
        labelled = {n.name: n for n in list_nodes(api, _selector({LABEL_POOL: pool.name}),
                                                  page_size=page_size)}
        wanted = set(names)
        absent = sorted(wanted - labelled.keys())
        found: dict[str, Node] = {}
        for chunk in _chunks(absent, NAMES_PER_QUERY):
            selector = f"{LABEL_HOSTNAME} in ({','.join(chunk)})"
            found.update((n.name, n) for n in list_nodes(api, selector, page_size=page_size)
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
                          f"apply generated/{cluster.name}/node-pools/{pool.name}.yaml: "
                          "aifab labels the nodes it names"))
        for name in sorted(labelled.keys() - wanted):
            out.append(_f(pool, "AF503", f"node {name} carries {LABEL_POOL}={pool.name} but the "
                          "blueprint does not name it",
                          "remove the label from the node, or grow the pool so that its "
                          "hostnames include it"))
        nodes = [labelled.get(name) or found[name] for name in sorted(wanted)
                 if name in labelled or name in found]
    else:
        selector = _selector(pool.node_selector or {LABEL_POOL: pool.name})
        nodes = sorted(list_nodes(api, selector, page_size=page_size), key=lambda n: n.name)
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


def _check_mig(cluster: Cluster, pool: NodePool, node: Node,
               want: Expected) -> Iterator[Finding]:
    config = node.labels.get(MIG_CONFIG_LABEL, "")
    if config not in want.mig_configs:
        shown = f"{MIG_CONFIG_LABEL}={config}" if config else f"no {MIG_CONFIG_LABEL} label"
        yield _f(pool, "AF508", f"node {node.name} has {shown}, expected "
                 f"{want.mig_configs[0]}",
                 f"apply generated/{cluster.name}/node-pools/{pool.name}.yaml; mig-manager "
                 "applies the config the label names")
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
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 300 else text[:297] + "..."


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
    import json

    try:
        body = json.loads(e.body or "")
        return f": {body['message']}" if body.get("message") else ""
    except (ValueError, TypeError, KeyError, AttributeError):
        return ""


def _api_hint(status: int | None) -> str:
    if status in (401, 403):
        return ("the kubeconfig's user may not list nodes: `kubectl auth can-i list nodes` "
                "must say yes (a ClusterRole with nodes: get, list)")
    return "check the API server's health and the kubeconfig's server address"
