"""Helm releases as Flux objects: a HelmRelease and the source it takes its chart from.

generated/ holds only kinds a cluster serves. A release is a `helm.toolkit.fluxcd.io/v2`
HelmRelease with a `source.toolkit.fluxcd.io/v1` source beside it, the chart's repository
through the site's chart mirror when it has one:
- an `oci://` repository: an OCIRepository of the chart's artifact (url `<repository>/<chart>`,
  ref.tag the chart version, the Helm chart layer copied as is) that the HelmRelease names in
  spec.chartRef (fluxcd/helm-controller v1.6.3 docs/spec/v2/helmreleases.md, "Chart reference"
  and "Recommended settings"; fluxcd/source-controller v1.9.1 docs/spec/v1/ocirepositories.md,
  "Layer selector");
- an `https://` repository: a HelmRepository, named by spec.chart.spec.sourceRef with the chart
  and its exact version (helmreleases.md, "Example").
Both deployers read the same files: Flux (a site that runs it points it at
generated/<cluster>/), or aifab's Pulumi program, which joins each HelmRelease with its source
(`read_release`) and installs the chart itself. CRDs: ../shared/reference/crds, shipped as
data/charts/helm-controller and data/charts/source-controller (tools/chart_sources.yaml).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aifab.expand.common import Output, chart_repository, metadata
from aifab.model import Cluster

HELM_API = "helm.toolkit.fluxcd.io/v2"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
RELEASE_KIND = "HelmRelease"
OCI_REPOSITORY = "OCIRepository"
HELM_REPOSITORY = "HelmRepository"
SOURCE_KINDS = (OCI_REPOSITORY, HELM_REPOSITORY)
# The media type of a Helm chart's content layer in an OCI artifact (Helm's OCI support;
# ocirepositories.md "Layer selector" and helmreleases.md "Recommended settings" use it).
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
# How often Flux re-reads a source and reconciles a release (drift correction); the versions are
# pinned, so this only undoes changes made by hand.
INTERVAL = "1h"
# Helm's wait for a release's workloads (Flux's default is 5m0s, helmreleases.md "Timeout");
# operator images come through the site's registry mirror on a first install.
DEFAULT_TIMEOUT = "15m"
# A chart's crds/ are created on install and replaced on upgrade (Flux's defaults are Create and
# Skip: an operator upgrade would keep old CRDs; helmreleases.md "Controlling the lifecycle of
# Custom Resource Definitions").
CRD_POLICY = "CreateReplace"

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class FluxError(ValueError):
    """A HelmRelease aifab cannot read: not in the shape aifab writes, or its source missing."""


def release(component: str, cluster: Cluster, *, chart_key: str, version: str, namespace: str,
            values: Mapping[str, Any], timeout: str = DEFAULT_TIMEOUT,
            depends_on: Sequence[tuple[str, str]] = ()) -> list[Output]:
    """The HelmRelease `chart_key` (chart and upstream repository from the catalog, through the
    chart mirror if set) in `namespace`, and its source: two files of `component`/.
    `depends_on`: (name, namespace) of HelmReleases that must be ready first."""
    chart = cluster.catalog.charts[chart_key]
    source, data = release_objects(
        chart_key, namespace, chart=chart["chart"], version=version,
        repository=chart_repository(cluster, chart["repo"]), values=values,
        metadata=lambda: metadata(cluster, chart_key, namespace), timeout=timeout,
        depends_on=depends_on)
    return [
        Output(f"{component}/{source['kind'].lower()}-{chart_key}.yaml", "object", source),
        Output(f"{component}/helmrelease-{chart_key}.yaml", "release", data),
    ]


def release_objects(name: str, namespace: str, *, chart: str, version: str, repository: str,
                    values: Mapping[str, Any],
                    metadata: Callable[[], dict[str, Any]] | None = None,
                    timeout: str = DEFAULT_TIMEOUT,
                    depends_on: Sequence[tuple[str, str]] = ()) -> tuple[dict, dict]:
    """(source, HelmRelease) for chart `chart` at `version` of `repository` (`oci://` or
    `https://`), both named `name` in `namespace`; `metadata` makes each one's metadata."""
    repository = repository.rstrip("/")

    def meta() -> dict[str, Any]:
        return metadata() if metadata else {"name": name, "namespace": namespace}

    spec: dict[str, Any] = {
        "interval": INTERVAL,
        "releaseName": name,
        "targetNamespace": namespace,
        "timeout": timeout,
        "install": {"crds": CRD_POLICY},
        "upgrade": {"crds": CRD_POLICY},
        "values": values,
    }
    if depends_on:
        spec["dependsOn"] = [{"name": n, "namespace": ns} for n, ns in depends_on]
    if repository.startswith("oci://"):
        source = {"apiVersion": SOURCE_API, "kind": OCI_REPOSITORY, "metadata": meta(), "spec": {
            "interval": INTERVAL,
            "url": f"{repository}/{chart}",
            "ref": {"tag": version},
            "layerSelector": {"mediaType": HELM_CHART_LAYER, "operation": "copy"},
        }}
        spec["chartRef"] = {"kind": OCI_REPOSITORY, "name": name, "namespace": namespace}
    else:
        source = {"apiVersion": SOURCE_API, "kind": HELM_REPOSITORY, "metadata": meta(),
                  "spec": {"interval": INTERVAL, "url": repository}}
        spec["chart"] = {"spec": {
            "chart": chart, "version": version, "interval": INTERVAL,
            "sourceRef": {"kind": HELM_REPOSITORY, "name": name, "namespace": namespace},
        }}
    return source, {"apiVersion": HELM_API, "kind": RELEASE_KIND, "metadata": meta(),
                    "spec": spec}


def is_release(data: Mapping[str, Any]) -> bool:
    return data.get("apiVersion") == HELM_API and data.get("kind") == RELEASE_KIND


def is_source(data: Mapping[str, Any]) -> bool:
    return data.get("apiVersion") == SOURCE_API and data.get("kind") in SOURCE_KINDS


def source_key(data: Mapping[str, Any]) -> tuple[str, str, str]:
    """(kind, namespace, name) of a source object, as a HelmRelease refers to it."""
    meta = data.get("metadata") or {}
    return str(data.get("kind")), str(meta.get("namespace", "")), str(meta.get("name", ""))


@dataclass(frozen=True)
class ChartRelease:
    """A HelmRelease read together with its source: what `helm install` needs.

    `name` and `namespace` are the Helm release's (spec.releaseName, spec.targetNamespace);
    `repository` is an `oci://` registry path or an `https://` chart repository, `chart` the
    chart's name in it; `timeout` in seconds; `depends_on` the (name, namespace) of the
    HelmReleases that must be ready first. `release` and `source` are the two objects."""

    name: str
    namespace: str
    chart: str
    version: str
    repository: str
    values: Mapping[str, Any]
    timeout: int
    depends_on: tuple[tuple[str, str], ...]
    release: Mapping[str, Any] = field(repr=False)
    source: Mapping[str, Any] = field(repr=False)

    @property
    def oci(self) -> bool:
        return self.repository.startswith("oci://")


def read_release(data: Mapping[str, Any],
                 sources: Mapping[tuple[str, str, str], Mapping[str, Any]]) -> ChartRelease:
    """The HelmRelease `data` joined with its source from `sources` (by source_key); FluxError
    when it is not in the shape `release` writes or its source is not there."""
    try:
        meta, spec = data["metadata"], data["spec"]
        namespace = str(spec.get("targetNamespace") or meta["namespace"])
        if "chartRef" in spec:
            ref = spec["chartRef"]
            source = _source(sources, ref, meta, OCI_REPOSITORY)
            url = str(source["spec"]["url"])
            repository, _, chart = url.rpartition("/")
            version = str(source["spec"]["ref"]["tag"])
        else:
            chart_spec = spec["chart"]["spec"]
            source = _source(sources, chart_spec["sourceRef"], meta, HELM_REPOSITORY)
            repository, chart = str(source["spec"]["url"]), str(chart_spec["chart"])
            version = str(chart_spec["version"])
        return ChartRelease(
            name=str(spec.get("releaseName") or meta["name"]), namespace=namespace,
            chart=chart, version=version, repository=repository.rstrip("/"),
            values=spec.get("values") or {}, timeout=duration(spec.get("timeout", "5m")),
            depends_on=tuple((str(d["name"]), str(d.get("namespace") or meta["namespace"]))
                             for d in spec.get("dependsOn") or ()),
            release=data, source=source)
    except (KeyError, TypeError, AttributeError) as exc:
        raise FluxError(f"HelmRelease {_name(data)}: not the shape aifab writes "
                        f"(missing {exc})") from None


def releases_by_path(outputs: Iterable[Output]) -> dict[str, ChartRelease]:
    """The release outputs of one cluster, each read with its source: path -> ChartRelease."""
    outputs = list(outputs)
    sources = {source_key(o.data): o.data for o in outputs if is_source(o.data)}
    return {o.path: read_release(o.data, sources) for o in outputs if o.kind == "release"}


def duration(text: Any) -> int:
    """Seconds of a duration aifab writes (`30m`, `1h`, `90s`, `1h30m`), as Go spells them."""
    m = _DURATION.match(str(text))
    if not m or not any(m.groups()):
        raise FluxError(f"duration {text!r}: expected hours, minutes and seconds such as 15m")
    hours, minutes, seconds = (int(g or 0) for g in m.groups())
    return hours * 3600 + minutes * 60 + seconds


def _source(sources: Mapping[tuple[str, str, str], Mapping[str, Any]], ref: Mapping[str, Any],
            meta: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    if ref["kind"] != kind:
        raise FluxError(f"HelmRelease {meta.get('name')}: refers to a {ref['kind']}; aifab "
                        f"reads charts from a {kind} here")
    key = (kind, str(ref.get("namespace") or meta["namespace"]), str(ref["name"]))
    if key not in sources:
        raise FluxError(f"HelmRelease {meta.get('name')}: its {kind} {key[1]}/{key[2]} is not "
                        "in the tree")
    return sources[key]


def _name(data: Mapping[str, Any]) -> str:
    meta = data.get("metadata")
    return str(meta.get("name")) if isinstance(meta, Mapping) else "?"
