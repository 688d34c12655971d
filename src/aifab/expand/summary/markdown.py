"""SUMMARY.md: the Jinja2 template templates/summary.md.j2 fed plain, preformatted data; every
cell goes through the `md` filter, which escapes what could break a table or inject markup."""

from __future__ import annotations

import functools
from typing import Any

import jinja2

from aifab.diagnostics import format_path
from aifab.expand.compute_domains import dra_driver
from aifab.expand.summary.facts import (
    generated_comment,
    kw,
    percent,
    plain,
    power_fact_estimated,
    scalable_units,
    size_text,
    tenant_gpus,
)
from aifab.model import Cluster, NodePool
from aifab.naming import tenant_namespace

SHARING_NAMES = {"timeSlicing": "time-slicing", "mps": "MPS"}
# Markdown: `\` first, so the escapes added after it are not escaped again.
# "](" and "][" would close a link text; "<" also stops autolinks and HTML.
_MD_ESCAPES = (("\\", "\\\\"), ("&", "&amp;"), ("|", "\\|"), ("<", "&lt;"), (">", "&gt;"),
               ("`", "\\`"), ("](", "]\\("), ("][", "]\\["))


def md(value: Any) -> str:
    """Text made safe for a Markdown table cell or line: no table break, no HTML, no code
    span or link, no line break, nothing hidden."""
    text = plain(value)
    for raw, escaped in _MD_ESCAPES:
        text = text.replace(raw, escaped)
    return text


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("aifab.expand", "templates"),
        autoescape=False,  # Markdown, not HTML: cells are escaped by the `md` filter
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = md
    return env


def summary_markdown(cluster: Cluster) -> str:
    return environment().get_template("summary.md.j2").render(summary_data(cluster))


def summary_data(cluster: Cluster) -> dict[str, Any]:
    """Everything the template shows, as plain strings and lists (no model objects)."""
    return {
        "header": generated_comment(cluster, "review summary"),
        "name": cluster.name,
        "description": cluster.description,
        "pools": [_pool_row(p) for p in cluster.node_pools],
        "estimates": any(power_fact_estimated(p.system) for p in cluster.node_pools),
        "totals": _totals(cluster),
        "tenants": _tenant_rows(cluster),
        "quotas": _quota_rows(cluster),
        "software": _software(cluster),
        "storage": _storage_rows(cluster),
        "sovereignty": _sovereignty(cluster),
        "warnings": [
            {"code": f.code, "path": format_path(f.path), "message": f.message}
            for f in _warnings(cluster)
        ],
    }


def _warnings(cluster: Cluster) -> list[Any]:
    """The rules' warnings, which the pipeline keeps on the model."""
    return sorted(set(cluster.warnings), key=lambda f: (format_path(f.path), f.code, f.message))


def _pool_row(pool: NodePool) -> dict[str, str]:
    power = kw(pool.power_kw) + (" (estimate)" if power_fact_estimated(pool.system) else "")
    if pool.uses_mig:
        profiles = " + ".join(f"{n}x {p}" for p, n in sorted(pool.mig_profiles.items()))
        mig = f"{pool.mig_config} ({profiles} per GPU)"
    else:
        mig = pool.mig_config or "none"
    sharing = (f"{SHARING_NAMES.get(pool.sharing.kind, pool.sharing.kind)}, "
               f"{pool.sharing.replicas} replicas" if pool.sharing else "none")
    return {
        "name": pool.name,
        "system": f"{pool.system.name} ({pool.system.id})",
        "size": size_text(pool),
        "gpus": f"{pool.gpus:,} x {pool.system.gpu.name}",
        "power": power,
        "cooling": pool.system.cooling,
        "mig": mig,
        "sharing": sharing,
    }


def _totals(cluster: Cluster) -> list[tuple[str, str]]:
    by_model: dict[str, int] = {}
    for pool in cluster.node_pools:
        name = pool.system.gpu.name
        by_model[name] = by_model.get(name, 0) + pool.gpus
    models = ", ".join(f"{n:,} {name}" for name, n in by_model.items())
    budget = cluster.site.power_budget_kw
    power = (f"{kw(cluster.power_kw)} kW of the {kw(budget)} kW budget "
             f"({percent(cluster.power_kw, budget)} used)")
    site = cluster.site
    rows = [
        ("GPUs", f"{cluster.gpus:,} ({models})" if models else "0"),
        ("Power", power),
        ("Site", f"{site.name} ({site.country}), {site.cooling} cooling"
                 + (f", at most {kw(site.rack_power_limit_kw)} kW per rack"
                    if site.rack_power_limit_kw is not None else "")),
    ]
    units = [f"{p.name}: {su}" for p in cluster.node_pools if (su := scalable_units(cluster, p))]
    rows.append(("Scalable units", "; ".join(units) if units else "none (no SuperPOD SU)"))
    if (fabric := cluster.fabric) is not None:
        rows.append(("Compute fabric", f"{fabric.technology}, {fabric.link_gbps} Gb/s, "
                                       f"subnet {fabric.subnet}"))
    return rows


def _tenant_rows(cluster: Cluster) -> list[dict[str, str]]:
    totals = dict(tenant_gpus(cluster))
    return [{
        "name": t.name,
        "namespace": tenant_namespace(t.name),
        "description": t.description or "",
        "gpus": f"{totals[t.name]:,}",
        "share": percent(totals[t.name], cluster.gpus),
    } for t in cluster.tenants]


def _quota_rows(cluster: Cluster) -> list[dict[str, str]]:
    rows = []
    for pool in cluster.node_pools:
        held = 0
        for tenant in cluster.tenants:
            quota = tenant.quota.get(pool.name, 0)
            limit = tenant.borrowing_limit.get(pool.name)
            if not quota and limit is None:
                continue
            held += quota
            rows.append({"pool": pool.name, "tenant": tenant.name, "quota": f"{quota:,}",
                         "share": percent(quota, pool.gpus),
                         "borrow": "no limit" if limit is None else f"{limit:,}"})
        free = max(pool.gpus - held, 0)
        rows.append({"pool": pool.name, "tenant": "(unallocated)", "quota": f"{free:,}",
                     "share": percent(free, pool.gpus), "borrow": ""})
    return rows


def _software(cluster: Cluster) -> list[tuple[str, str, str]]:
    go = cluster.gpu_operator
    overrides = "; ".join(f"pool {p.name}: {p.driver_version}"
                          for p in cluster.node_pools if p.driver_overridden)
    rows = [
        ("Kubernetes", cluster.kubernetes.version, ""),
        ("NVIDIA GPU Operator", go.version,
         f"MIG strategy {cluster.mig_strategy}, GPUDirect RDMA {go.gpu_direct_rdma}, "
         f"CDI {'on' if go.cdi else 'off'}, GDS {'on' if go.gds else 'off'}"),
        ("GPU driver", go.driver_version,
         f"kernel modules: {go.kernel_module_type}" + (f"; {overrides}" if overrides else "")),
    ]
    if (net := cluster.network_operator) is not None:
        doca = cluster.catalog.doca_drivers.get(net.version)
        note = (f"DOCA-OFED driver {doca} deployed by the operator" if net.deploy_ofed and doca
                else "DOCA-OFED driver deployed by the operator" if net.deploy_ofed
                else "host's own network drivers")
        rows.append(("NVIDIA Network Operator", net.version, note))
    if (kueue := cluster.kueue) is not None:
        rows.append(("Kueue", kueue.version, f"cohort {kueue.cohort}, fair sharing "
                                             f"{'on' if kueue.fair_sharing else 'off'}"))
    domains = [p.name for p in cluster.node_pools if p.compute_domains and p.rack_count]
    if domains:
        rows.append(("NVIDIA DRA driver", str(dra_driver(cluster)["version"]),
                     "ComputeDomains for " + ", ".join(domains)))
    return rows


def _storage_rows(cluster: Cluster) -> list[dict[str, str]]:
    backends = cluster.catalog.storage_backends
    return [{
        "name": s.name,
        "backend": s.backend,
        "provisioner": backends[s.backend].provisioner if s.backend in backends else "unknown",
        "default": "yes" if s.default else "no",
        "reclaim": s.reclaim_policy,
        "capacity": f"{kw(s.capacity_tib)} TiB" if s.capacity_tib is not None else "not set",
    } for s in sorted(cluster.storage, key=lambda s: s.name)]


def _sovereignty(cluster: Cluster) -> list[tuple[str, str]]:
    sov = cluster.sovereignty
    return [
        ("Data residency", sov.residency or "not set"),
        ("Air-gapped", "yes" if sov.air_gapped else "no"),
        ("Registry mirror", sov.registry_mirror or "none (images from upstream registries)"),
        ("Chart mirror", sov.chart_mirror or "none (charts from upstream repositories)"),
    ]
