"""Names: hostname templates, Kubernetes name rules, and the names aifab composes for objects.

Both the rules and the generator take composed names from here, so what is checked is what is
generated. Hostname templates are parsed here, never passed to `str.format` (a user string
with `{0.__class__}` must stay text).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from aifab.diagnostics import Path
from aifab.model import Cluster, NodePool

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_LABEL_MAX = 63
DNS_SUBDOMAIN_MAX = 253
# A whole valid node name in one match: the fast path before `hostname_problem` explains one
DNS_SUBDOMAIN = re.compile(r"(?=.{1,253}\Z)[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
                           r"(?:\.[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)*\Z")

# Namespaces that exist in every cluster, and the ones aifab's components install operators into.
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
OPERATOR_NAMESPACES = ("gpu-operator", "jobset-system", "kueue-system", "monitoring",
                       "nvidia-dra-driver-gpu", "nvidia-network-operator")
RESERVED_PREFIXES = ("kube-", "openshift-")

# RBAC names Kubernetes gives itself ("Referring to subjects",
# https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-subjects): the prefix
# `system:` is reserved for Kubernetes; a ServiceAccount is the user
# `system:serviceaccount:<namespace>:<name>`, in the groups `system:serviceaccounts:<namespace>`
# and `system:serviceaccounts`; `system:authenticated` holds every authenticated user.
RBAC_SYSTEM_PREFIX = "system:"
SERVICE_ACCOUNT_USER_PREFIX = "system:serviceaccount:"
SERVICE_ACCOUNT_GROUP_PREFIX = "system:serviceaccounts:"
EVERYONE_GROUPS = ("system:authenticated", "system:serviceaccounts", "system:unauthenticated")


def is_rbac_system_name(name: str) -> bool:
    """Whether an RBAC user or group name is in the prefix Kubernetes reserves (any case)."""
    return name.lower().startswith(RBAC_SYSTEM_PREFIX)


def service_account_namespace(name: str) -> str | None:
    """The namespace whose ServiceAccounts an RBAC user or group name stands for, if it is one:
    `system:serviceaccounts:<ns>` (all of them) or `system:serviceaccount:<ns>:<name>` (one)."""
    if name.startswith(SERVICE_ACCOUNT_GROUP_PREFIX):
        return name.removeprefix(SERVICE_ACCOUNT_GROUP_PREFIX)
    if name.startswith(SERVICE_ACCOUNT_USER_PREFIX):
        return name.removeprefix(SERVICE_ACCOUNT_USER_PREFIX).partition(":")[0]
    return None

# Node labels aifab puts on every node (expand.node_pools) and selects on (kueue, compute
# domains, nv-ipam); the rules refuse them in a pool's own labels (check.node_labels).
LABEL_POOL = "aifab.dev/pool"
LABEL_SYSTEM = "aifab.dev/system"
LABEL_RACK = "aifab.dev/rack"
LABEL_NVLINK_DOMAIN = "aifab.dev/nvlink-domain"
LABEL_SCALABLE_UNIT = "aifab.dev/scalable-unit"
HOSTNAME_LABEL = "kubernetes.io/hostname"
MIG_CONFIG_LABEL = "nvidia.com/mig.config"  # read by the GPU Operator's mig-manager
DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config"  # read by the device plugin
AIFAB_NODE_LABELS = (LABEL_POOL, LABEL_SYSTEM, LABEL_RACK, LABEL_NVLINK_DOMAIN,
                     LABEL_SCALABLE_UNIT, MIG_CONFIG_LABEL, DEVICE_PLUGIN_CONFIG_LABEL)

_PLACEHOLDER = re.compile(r"\{([a-z]+)(?::0([1-9])d)?\}")


@dataclass(frozen=True, slots=True)
class Placeholder:
    name: str
    width: int  # 0: no padding


def placeholders(template: str) -> list[Placeholder]:
    return [Placeholder(m[1], int(m[2] or 0)) for m in _PLACEHOLDER.finditer(template)]


@dataclass(frozen=True, slots=True)
class NodeSlot:
    """Where a node sits: 1-based index in its pool, rack, and tray (position in its rack)."""

    node: int
    rack: int | None
    tray: int | None


def node_slot(index: int, per_rack: int | None) -> NodeSlot:
    """The slot of the node at 0-based `index` of its pool."""
    if not per_rack:
        return NodeSlot(index + 1, None, None)
    return NodeSlot(index + 1, index // per_rack + 1, index % per_rack + 1)


def largest_slot(pool: NodePool) -> NodeSlot:
    """The largest node, rack and tray numbers in a pool (0 for an empty pool)."""
    count, per_rack = pool.node_count, pool.system.nodes_per_rack
    if not per_rack:
        return NodeSlot(count, None, None)
    return NodeSlot(count, -(-count // per_rack), min(count, per_rack))


def hostnames(pool: NodePool) -> list[str]:
    """The node names of a pool with a hostname template, in node order."""
    if pool.hostnames is None:
        return []
    return list(_hostnames(pool.hostnames, pool.node_count, pool.system.nodes_per_rack))


@lru_cache(maxsize=64)  # rules, node pools and the summary all ask for the same lists
def _hostnames(template: str, count: int, per_rack: int | None) -> tuple[str, ...]:
    layout, fields = _printf_layout(template, per_rack)
    columns = {"node": range(1, count + 1)}
    if per_rack:
        columns["rack"] = [i // per_rack + 1 for i in range(count)]
        columns["tray"] = [i % per_rack + 1 for i in range(count)]
    if not fields:
        return (layout % (),) * count
    return tuple(layout % numbers for numbers in zip(*(columns[f] for f in fields)))


def _printf_layout(template: str, per_rack: int | None) -> tuple[str, tuple[str, ...]]:
    """The template as a printf layout built here (the user's text escaped, so it stays text),
    and the slot fields it takes in order: a national fleet names 60,000 nodes in C, not with a
    regex callback per node. A placeholder the slot lacks stays as written."""
    known = {"node", "rack", "tray"} if per_rack else {"node"}
    parts: list[str] = []
    fields: list[str] = []
    at = 0
    for m in _PLACEHOLDER.finditer(template):
        parts.append(template[at:m.start()].replace("%", "%%"))
        if m[1] in known:
            parts.append(f"%0{m[2]}d" if m[2] else "%d")
            fields.append(m[1])
        else:
            parts.append(m[0].replace("%", "%%"))
        at = m.end()
    parts.append(template[at:].replace("%", "%%"))
    return "".join(parts), tuple(fields)


def dns_label_problem(name: str) -> str:
    """Why `name` is not a DNS-1123 label, or '' when it is one."""
    if len(name) > DNS_LABEL_MAX:
        return f"'{name}' is {len(name)} characters long; Kubernetes allows {DNS_LABEL_MAX}"
    if not DNS_LABEL.fullmatch(name):
        return (f"'{name}' is not a DNS-1123 label (lower-case letters, digits and '-', "
                "starting and ending with a letter or digit)")
    return ""


def hostname_problem(name: str) -> str:
    """Why `name` is not a valid node name (a DNS-1123 subdomain), or ''."""
    if DNS_SUBDOMAIN.match(name):
        return ""
    if len(name) > DNS_SUBDOMAIN_MAX:
        return f"'{name[:40]}...' is {len(name)} characters long; node names allow {DNS_SUBDOMAIN_MAX}"
    for part in name.split("."):
        if problem := dns_label_problem(part):
            return f"in node name '{name}': {problem}"
    return ""


def tenant_namespace(tenant_name: str) -> str:
    return tenant_name


# The example multi-node NVLink job of a pool (expand/nvlink_jobs.py): a JobSet and its own
# ComputeDomain share the name; the JobSet's one replicated job runs the workers.
NVLINK_JOB_SUFFIX = "nvlink"
NVLINK_JOB_WORKERS = "workers"
# JobSet names a pod <jobset>-<replicatedJob>-<jobIndex>-<podIndex>-<5 random characters> and
# refuses a JobSet whose longest pod name is not a DNS-1035 label (kubernetes-sigs/jobset v0.12.0
# pkg/util/placement/placement.go GenPodName, pkg/webhooks/jobset_webhook.go).
POD_NAME_RANDOM_SUFFIX = "-abcde"


def nvlink_job_name(pool: NodePool) -> str:
    """The example JobSet of a ComputeDomain pool, and the name of its ComputeDomain."""
    return f"{pool.name}-{NVLINK_JOB_SUFFIX}"


def compute_domain_channel(domain: str) -> str:
    """The ResourceClaimTemplate the DRA driver creates for a ComputeDomain's IMEX channel."""
    return f"{domain}-channel"


def nvlink_job_longest_pod_name(pool: NodePool, pods: int) -> str:
    """The longest pod name of the pool's example JobSet with `pods` workers."""
    return (f"{nvlink_job_name(pool)}-{NVLINK_JOB_WORKERS}-0-{max(pods, 1) - 1}"
            f"{POD_NAME_RANDOM_SUFFIX}")


@dataclass(frozen=True, slots=True)
class ComposedName:
    """A name aifab will give an object, where it comes from, and what it names."""

    name: str
    path: Path
    what: str


def composed_names(cluster: Cluster) -> Iterator[ComposedName]:
    """Every object name composed from blueprint names (plain copies are checked by the schema)."""
    for pool in cluster.node_pools:
        if pool.compute_domains and pool.rack_count:
            # the longest name built from the pool: a pod of its example NVLink job over a
            # whole NVLink domain (longer than the job's ComputeDomain and its channel)
            yield ComposedName(nvlink_job_longest_pod_name(
                pool, pool.system.nodes_per_nvlink_domain), pool.path + ("name",),
                "example JobSet pod")
    for tenant in cluster.tenants:
        yield ComposedName(tenant_namespace(tenant.name), tenant.path + ("name",), "Namespace")
