"""The mirror list: every chart and image a cluster pulls, concrete, for an air-gapped site.

Charts are the releases the cluster installs. Images come from each release's exact chart
version, from the image inventory aifab ships (verify/chart_data.py: repository, image and tag
of every image key of the chart and its subcharts, the NFD subchart's included, with the values
keys that enable it), overridden by what the release's values set and kept only when those keys
are true in the merged values (no vGPU, Kata or confidential-computing images unless enabled);
and from the images the generated objects name (NicClusterPolicy, NVIDIADriver). Repositories
are upstream: the site's registry mirror keeps the upstream host as its first path segment, so
it is stripped. Two images carry the node's OS (and architecture) in their tag, so they are
listed once per node OS given and per architecture of the cluster's pools (Grace systems are
arm64, catalog gpus.yaml `grace`): the GPU driver (`<version>-<os>`, GPU Operator docs
"Precompiled and custom driver containers") and the DOCA-OFED driver (`<version>-<os>-<arch>`,
Network Operator NicClusterPolicy ofedDriver).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from aifab.model import Cluster

if TYPE_CHECKING:
    from aifab.expand.flux import ChartRelease

# DGX OS 7, the OS of NVIDIA's Blackwell DGX systems, is Ubuntu 24.04 based; --node-os overrides.
DEFAULT_NODE_OS = ("ubuntu24.04",)
OS_SUFFIXED = {"driver": False, "doca-driver": True}  # image -> the tag also names the arch


@dataclass(frozen=True, slots=True, order=True)
class Artifact:
    """An upstream chart or image an air-gapped site copies into its mirror."""

    kind: str  # "chart" | "image"
    reference: str  # chart: repository and chart; image: repository
    version: str | None  # chart version or image tag
    note: str = ""

    def line(self) -> str:
        if self.kind == "chart":
            text = f"chart {self.reference} {self.version}"
        else:
            text = f"image {self.reference}" + (f":{self.version}" if self.version else "")
        return f"{text}  # {self.note}" if self.note else text

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "reference": self.reference, "version": self.version,
                "note": self.note}


def architectures(cluster: Cluster) -> list[str]:
    """The CPU architectures of the cluster's nodes: arm64 beside a Grace CPU, else amd64."""
    return sorted({"arm64" if pool.system.gpu.grace else "amd64" for pool in cluster.node_pools})


def mirror_artifacts(cluster: Cluster, chart_values: FsPath | None = None,
                     node_os: Sequence[str] = DEFAULT_NODE_OS) -> set[Artifact]:
    """Every chart and image the cluster pulls, upstream. `chart_values` (a folder of
    `<chart>-<version>.values.yaml`) serves chart versions aifab ships no data for."""
    from aifab.expand import expand
    from aifab.expand.flux import is_source, releases_by_path

    outputs = expand(cluster)
    charts = releases_by_path(outputs)
    found: set[Artifact] = set()
    for out in outputs:
        if out.kind == "release":
            found |= set(_release(cluster, charts[out.path], chart_values))
        elif out.kind == "object" and not is_source(out.data):
            found |= set(_images(cluster, out.data, (), "", {}))
    return {suffixed for artifact in found
            for suffixed in _per_platform(artifact, node_os, architectures(cluster))}


def mirror_lines(artifacts: set[Artifact]) -> list[str]:
    """Sorted, unique lines: `chart REPO/CHART VERSION` and `image REF:TAG`, notes after `#`."""
    return sorted({a.line() for a in artifacts})


def skopeo_yaml(artifacts: set[Artifact], archs: Sequence[str]) -> str:
    """The images as the YAML `skopeo sync --src yaml` reads: registry -> images -> repository
    -> tags. Charts are comments (README: copy them with helm pull and helm push)."""
    import yaml

    registries: dict[str, dict[str, Any]] = {}
    for a in sorted(artifacts):
        if a.kind != "image" or not a.version or "<" in a.reference + a.version:
            continue
        registry, _, repository = a.reference.partition("/")
        images = registries.setdefault(registry, {"images": {}})["images"]
        images.setdefault(repository, []).append(a.version)
    head = ["# aifab plan --mirror-list --format skopeo: every image the cluster(s) pull.",
            "# Copy into the registry mirror, keeping the upstream host as the first path segment",
            "# and every platform of multi-arch images (nodes: " + ", ".join(archs) + "):",
            "#   skopeo sync --all --scoped --src yaml --dest docker THIS.yaml REGISTRY-MIRROR",
            "# Charts (README, 'Air-gapped sites'):"]
    head += [f"#   {a.reference} {a.version}" for a in sorted(artifacts) if a.kind == "chart"]
    unfilled = [a.line() for a in sorted(artifacts) if a.kind == "image"
                and (not a.version or "<" in a.reference + a.version)]
    head += [f"# Not concrete (no chart data): {line}" for line in unfilled]
    body = yaml.safe_dump(registries, sort_keys=True, default_flow_style=False) if registries \
        else "{}\n"
    return "\n".join(head) + "\n" + body


# -- releases -----------------------------------------------------------------------------------


def _release(cluster: Cluster, release: ChartRelease,
             chart_values: FsPath | None) -> Iterator[Artifact]:
    """The chart of a HelmRelease (upstream, where the mirror copies it from) and its images."""
    from aifab.verify import chart_data

    key, chart, version = release.name, release.chart, release.version
    repository = release.repository
    mirror = (cluster.sovereignty.chart_mirror or "").rstrip("/")
    if mirror and repository == mirror:
        repository = str(cluster.catalog.charts.get(key, {}).get("repo", repository))
    yield Artifact("chart", f"{repository.rstrip('/')}/{chart}", version)
    values = release.values
    shipped = chart_data.find(chart, version)
    if shipped is None or shipped.values is None:
        label = f"chart {chart} {version}: aifab ships no data for it"
        yield from _images(cluster, values, (), label, _given_defaults(chart_values, chart,
                                                                          version))
        return
    merged = _merge(shipped.values, values)
    for image in shipped.images:
        if all(_at(merged, condition) is True for condition in image["when"]):
            yield _inventory_image(cluster, image, _at(values, image["path"]), shipped.label)


def _inventory_image(cluster: Cluster, image: Mapping[str, Any], override: Any,
                     label: str) -> Artifact:
    """An inventory image with what the release's values set for it."""
    form = image["form"]
    if form == "reference":  # "repository[:tag]" in an images map
        override = dict(zip(("repository", "tag"), _split_reference(override), strict=True)) \
            if isinstance(override, str) and override else {}
    override = override if isinstance(override, Mapping) else {}
    repository = _upstream(cluster, str(override.get("repository") or image["repository"]))
    if registry := override.get("registry") or image.get("registry"):  # {registry, repository}
        repository = f"{_upstream(cluster, str(registry))}/{repository}"
    name = None if form == "reference" else \
        override.get("name" if form == "helm" else "image") or image["image"]
    tag = override.get("version" if form == "nvidia" else "tag") or image["tag"]
    missing = [what for what, value in (("repository", repository), ("tag", tag)) if not value]
    repository = repository or f"<{image['path']}.repository>"
    reference = f"{repository}/{name}" if name else repository
    if missing:  # enabled without a default (vgpuManager): the blueprint must give it
        return Artifact("image", reference,
                        str(tag or f"<{image['path']}.{'version' if form == 'nvidia' else 'tag'}>"),
                        f"{' and '.join(missing)}: {label} has no default")
    return Artifact("image", reference, str(tag))


def _split_reference(reference: str) -> tuple[str, str | None]:
    """"host/path:tag" -> ("host/path", "tag"); a colon before the last "/" is a port."""
    head, _, tag = reference.rpartition(":")
    return (head, tag) if head and "/" not in tag else (reference, None)


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        return {**base, **{k: _merge(base.get(k), v) for k, v in override.items()}}
    return override


def _at(tree: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        tree = tree.get(key) if isinstance(tree, Mapping) else None
    return tree


def _given_defaults(folder: FsPath | None, chart: str, version: str) -> Mapping[str, Any]:
    """The default values of exactly this chart version from --chart-values ({} when not there
    or not usable: a nearer version's tags would be wrong tags to mirror)."""
    from aifab.verify.helm_values import read

    if folder is None:
        return {}
    bare = version.lstrip("v")
    for name in (f"{chart}-{version}", f"{chart}-v{bare}", f"{chart}-{bare}"):
        for suffix in (".values.yaml", ".values.yml"):
            path = folder / (name + suffix)
            if path.is_file():
                data, _ = read(path, folder)
                return data if isinstance(data, Mapping) else {}
    return {}


# -- images named in objects (and in releases without chart data) -----------------------------


def _images(cluster: Cluster, node: Any, path: tuple[str, ...], label: str,
            defaults: Mapping[str, Any]) -> Iterator[Artifact]:
    if isinstance(node, list):
        for item in node:
            yield from _images(cluster, item, path, label, defaults)
        return
    if not isinstance(node, Mapping):
        return
    repository = node.get("repository")
    if isinstance(repository, str) and repository:
        yield _image(cluster, node, path, label, defaults)
    for key in sorted(node):
        if isinstance(node[key], (Mapping, list)):
            yield from _images(cluster, node[key], path + (str(key),), label, defaults)


def _image(cluster: Cluster, node: Mapping[str, Any], path: tuple[str, ...], label: str,
           defaults: Mapping[str, Any]) -> Artifact:
    """NVIDIA style (repository + image + version) or Helm style (`image.repository` is the
    whole name, `image.tag` the tag); what is missing is a <placeholder> with a note."""
    upstream = _upstream(cluster, str(node["repository"]))
    where = ".".join(path) or "spec"
    helm_style = bool(path) and path[-1] == "image"
    default = _at(defaults, where) if path else defaults
    default = default if isinstance(default, Mapping) else {}
    name = None if helm_style else (node.get("image") or default.get("image"))
    tag_key = "tag" if helm_style else "version"
    tag = node.get(tag_key) or default.get(tag_key)
    missing = []
    if helm_style:
        reference = upstream
    elif isinstance(name, str) and name:
        reference = f"{upstream}/{name}"
    else:
        reference, missing = f"{upstream}/<{where}.image>", ["image name"]
    if not tag:
        tag = f"<{where}.{tag_key}>"
        missing.append("tag")
    note = f"{' and '.join(missing)} unknown: {label}" if missing else ""
    return Artifact("image", reference, str(tag), note)


def _upstream(cluster: Cluster, repository: str) -> str:
    """The upstream repository of a mirrored one: the mirror keeps the upstream host as its
    first path segment (expand.common.image_registry)."""
    mirror = cluster.sovereignty.registry_mirror
    if mirror and repository.startswith(mirror.rstrip("/") + "/"):
        return repository[len(mirror.rstrip("/")) + 1:]
    return repository


def _per_platform(artifact: Artifact, node_os: Sequence[str],
                  archs: Sequence[str]) -> Iterator[Artifact]:
    """An image whose tag names the node's OS (and architecture), once per OS (and arch)."""
    name = artifact.reference.rsplit("/", 1)[-1]
    if artifact.kind != "image" or name not in OS_SUFFIXED or not artifact.version \
            or "<" in artifact.version:
        yield artifact
        return
    for os_name in node_os:
        if OS_SUFFIXED[name]:
            for arch in archs:
                yield Artifact("image", artifact.reference, f"{artifact.version}-{os_name}-{arch}",
                               f"node OS {os_name} (--node-os), {arch} nodes")
        else:
            yield Artifact("image", artifact.reference, f"{artifact.version}-{os_name}",
                           f"node OS {os_name} (--node-os)")
