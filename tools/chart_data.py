"""Derive aifab's chart data (src/aifab/data/charts/<chart>/<version>.json) from upstream.

For each chart version of tools/chart_sources.yaml it reads the chart's values.yaml, its CRDs and
its subcharts' from the tagged commit of the upstream repository (a local git mirror, e.g. one
the `fetch` tool brings to /work/.mirror/<owner>+<name>/repo) and writes one JSON file holding:
- `sources`: repository, tag, commit, and every file read with its git blob id;
- `values`: the default values, subcharts' merged under their names as Helm merges them;
- `images`: the image inventory (values path, repository, image, tag, the keys that enable it);
- `crds`: each CRD's served versions with their schemas (types, enums, defaults, formats, CEL
  rules), prose descriptions dropped.
Nothing else: no upstream code is copied. The output depends only on the bytes read, so running
it again gives the same bytes (tests/test_chart_data.py checks the shipped files).

    python tools/chart_data.py --mirrors /work/.mirror [--only gpu-operator@v26.3.0]
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "tools" / "chart_sources.yaml"
OUT = ROOT / "src" / "aifab" / "data" / "charts"

# Schema keywords kept; `description`, `example` and `title` (prose) are dropped.
_SCHEMA_KEYS = {
    "type", "format", "enum", "default", "nullable", "pattern", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "minItems",
    "maxItems", "uniqueItems", "minProperties", "maxProperties", "required",
    "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type", "x-kubernetes-validations",
}
_SCHEMA_NESTED = {"items", "additionalProperties", "not"}
_SCHEMA_LISTS = {"anyOf", "oneOf", "allOf"}
_RULE_KEYS = {"rule", "message", "messageExpression", "reason", "fieldPath", "optionalOldSelf"}


@dataclass(frozen=True)
class SourceFile:
    repository: str
    tag: str
    commit: str
    path: str
    data: bytes


def blob_id(data: bytes) -> str:
    """The git blob id of `data` (`git hash-object`)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def entries(manifest: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Each chart version of the manifest with `{version}` filled in."""
    for chart in manifest["charts"]:
        for version in chart["versions"]:
            entry = json.loads(json.dumps(chart).replace("{version}", str(version)))
            entry["version"] = str(version)
            del entry["versions"]
            for sub in entry.get("subcharts", {}).values():
                if isinstance(sub.get("appVersion"), Mapping):
                    sub["appVersion"] = sub["appVersion"][str(version)]
            yield entry


# -- reading upstream -------------------------------------------------------------------------


def _git(gitdir: Path, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(gitdir), *args], check=True,
                          capture_output=True).stdout


def from_mirror(entry: Mapping[str, Any], mirrors: Path) -> list[SourceFile]:
    """The files of one chart version, read from git mirrors `<mirrors>/<owner>+<name>/repo`."""
    files: list[SourceFile] = []
    for source in entry["sources"]:
        gitdir = mirrors / source["repository"].replace("/", "+") / "repo"
        commit = _git(gitdir, "rev-parse", f"{source['tag']}^{{commit}}").decode().strip()
        paths = []
        if chart := source.get("chart"):
            listed = _git(gitdir, "ls-tree", "-r", "--name-only", commit, chart).decode()
            paths += [p for p in listed.splitlines() if _chart_file(p[len(chart) + 1:])]
        for crd in source.get("crds", []):
            listed = _git(gitdir, "ls-tree", "-r", "--name-only", commit, crd).decode()
            paths += [p for p in listed.splitlines() if p.endswith((".yaml", ".yml"))]
        for path in sorted(set(paths)):
            files.append(SourceFile(source["repository"], source["tag"], commit, path,
                                    _git(gitdir, "show", f"{commit}:{path}")))
    return files


def _chart_file(relative: str) -> bool:
    """values.yaml and crds/ of a chart and of its vendored subcharts (charts/<name>/...)."""
    parts = relative.split("/")
    if len(parts) >= 3 and parts[0] == "charts":
        parts = parts[2:]
    return parts == ["values.yaml"] or (len(parts) == 2 and parts[0] == "crds"
                                        and parts[1].endswith((".yaml", ".yml")))


def from_recorded(recorded: Mapping[str, Any], read: Callable[[str], bytes | None]
                  ) -> list[SourceFile] | None:
    """The files a data file names, read by blob id (None when one is not at hand)."""
    files = []
    for source in recorded["sources"]:
        for path, blob in source["files"]:
            data = read(blob)
            if data is None:
                return None
            files.append(SourceFile(source["repository"], source["tag"], source["commit"],
                                    path, data))
    return files


# -- deriving -----------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader without YAML 1.1's `=` value key, which Kubernetes' YAML (1.2)
    reads as the string "=" (a CEL rule's enum in kube-prometheus-stack's CRDs has one)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:value"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def derive(entry: Mapping[str, Any], files: list[SourceFile]) -> bytes:
    """The data file of one chart version, from its upstream files."""
    chart_dirs = {s["repository"]: s.get("chart") for s in entry["sources"]}
    values: dict[str, Any] = {}
    subvalues: dict[str, Any] = {}
    crds: list[dict[str, Any]] = []
    for f in files:
        role, sub = _role(f.path, chart_dirs.get(f.repository))
        if role == "values":
            loaded = yaml.load(f.data.decode("utf-8"), Loader=_Loader) or {}
            if sub:
                subvalues[sub] = loaded
            else:
                values = loaded
        else:
            for doc in yaml.load_all(f.data.decode("utf-8"), Loader=_Loader):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    crds.append(compact_crd(doc))
    subcharts = entry.get("subcharts", {})
    merged = copy.deepcopy(values)
    for name, defaults in sorted(subvalues.items()):
        merged[name] = _merge(defaults, values.get(name) or {})
    merged = packaged(entry, merged)
    images = sorted(_images(entry, merged, subcharts), key=lambda i: i["path"])
    data = {
        "chart": entry["chart"],
        "version": entry["version"],
        "appVersion": entry.get("appVersion"),
        "subcharts": {name: {"condition": s.get("condition"), "appVersion": s.get("appVersion")}
                      for name, s in sorted(subcharts.items())},
        "sources": _sources(files),
        "values": merged if any(s.get("chart") for s in entry["sources"]) else None,
        "images": images,
        "crds": sorted(crds, key=lambda c: (c["group"], c["kind"])),
    }
    return (json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            + "\n").encode("utf-8")


def _role(path: str, chart: str | None) -> tuple[str, str | None]:
    """("values" | "crd", subchart name or None) of a file."""
    if chart and path.startswith(chart + "/"):
        parts = path[len(chart) + 1:].split("/")
        sub = parts[1] if parts[0] == "charts" else None
        return ("values" if parts[-1] == "values.yaml" else "crd"), sub
    return "crd", None


def _sources(files: list[SourceFile]) -> list[dict[str, Any]]:
    grouped: dict[tuple[str, str, str], list[list[str]]] = {}
    for f in files:
        grouped.setdefault((f.repository, f.tag, f.commit), []).append([f.path, blob_id(f.data)])
    return [{"repository": r, "tag": t, "commit": c, "files": sorted(paths)}
            for (r, t, c), paths in sorted(grouped.items())]


def _merge(base: Any, override: Any) -> Any:
    """Helm's coalescing of a subchart's defaults with the parent's values for it."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = _merge(base.get(key), value) if key in base else value
        return out
    return copy.deepcopy(override)


def compact_crd(doc: Mapping[str, Any]) -> dict[str, Any]:
    spec = doc["spec"]
    return {
        "group": spec["group"],
        "kind": spec["names"]["kind"],
        "plural": spec["names"].get("plural"),
        "scope": spec.get("scope"),
        "versions": [{"name": v["name"], "served": v.get("served", True),
                      "storage": v.get("storage", False),
                      "schema": compact_schema(v.get("schema", {}).get("openAPIV3Schema", {}))}
                     for v in spec.get("versions", [])],
    }


def compact_schema(node: Any) -> Any:
    """A structural schema without its prose."""
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SCHEMA_KEYS:
            out[key] = ([{k: v for k, v in rule.items() if k in _RULE_KEYS} for rule in value]
                        if key == "x-kubernetes-validations" else value)
        elif key == "properties":
            out[key] = {name: compact_schema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_NESTED:
            out[key] = compact_schema(value)
        elif key in _SCHEMA_LISTS:
            out[key] = [compact_schema(sub) for sub in value]
    return out


def _images(entry: Mapping[str, Any], values: Any, subcharts: Mapping[str, Any]
            ) -> Iterator[dict[str, Any]]:
    """Every values node naming an image, in one of three forms: "nvidia" (repository, image,
    version or tag), "helm" (image: {[registry,] repository, tag[, name]}) or "reference" (a string
    "repository[:tag]" in an `images` map, as the SR-IOV subchart has). An empty tag is the
    owning chart's appVersion where the chart's template says so (manifest `appVersionTags`),
    else left to the user (None)."""
    for path, node in _walk(values, ()):
        sub = subcharts.get(path[0]) if path else None
        if path and path[-1] == "images":
            for key in sorted(k for k, v in node.items() if isinstance(v, str) and v):
                repository, tag = _split_reference(node[key])
                yield {"path": ".".join(path + (str(key),)), "form": "reference",
                       "repository": repository, "image": None, "tag": tag,
                       "when": _conditions(entry, values, path, sub)}
        repository = node.get("repository")
        if not isinstance(repository, str):
            continue
        helm_style = bool(path) and path[-1] == "image"
        name = node.get("name") if helm_style else node.get("image")
        if not helm_style and not isinstance(name, str):
            continue
        tag = node.get("tag") if helm_style else node.get("version")
        if tag in (None, ""):
            tag = node.get("tag") if not helm_style else None
        if tag in (None, "") and ".".join(path) in entry.get("appVersionTags", []):
            owner = sub if sub is not None else entry
            tag = owner.get("defaultTag") or owner.get("appVersion")
        found = {"path": ".".join(path), "form": "helm" if helm_style else "nvidia",
                 "repository": repository,
                 "image": name if isinstance(name, str) and name else None,
                 "tag": None if tag in (None, "") else str(tag),
                 "when": _conditions(entry, values, path, sub)}
        if helm_style and isinstance(node.get("registry"), str) and node["registry"]:
            found["registry"] = node["registry"]  # image: {registry, repository, tag}
        yield found


def _split_reference(reference: str) -> tuple[str, str | None]:
    """"host/path:tag" -> ("host/path", "tag"); a colon before the last "/" is a port."""
    head, _, tag = reference.rpartition(":")
    return (head, tag) if head and "/" not in tag else (reference, None)


def packaged(entry: Mapping[str, Any], values: Any) -> Any:
    """The values as the published chart has them: release packaging may move image
    repositories and pin their tags (manifest `packaging`)."""
    packaging = entry.get("packaging")
    if not packaging:
        return values
    values = copy.deepcopy(values)
    old, new = packaging["registry"]["from"], packaging["registry"]["to"]
    for _, node in _walk(values, ()):
        repository = node.get("repository")
        if isinstance(repository, str) and repository.startswith(old + "/"):
            node["repository"] = new + repository[len(old):]
            if "tag" in node:
                node["tag"] = packaging["tag"]
    return values


def _walk(node: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key in sorted(node, key=str):
            yield from _walk(node[key], path + (str(key),))


def _conditions(entry: Mapping[str, Any], values: Any, path: tuple[str, ...],
                sub: Mapping[str, Any] | None) -> list[str]:
    """The values keys that must all be true for the image at `path` to be pulled."""
    found = [sub["condition"]] if sub and sub.get("condition") else []
    found += entry.get("gates", {}).get(path[0], []) if path else []
    node = values
    for depth, key in enumerate(path):
        node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get("enabled"), bool):
            found.append(".".join(path[:depth + 1] + ("enabled",)))
    return sorted(set(found))


def output_path(entry: Mapping[str, Any]) -> Path:
    return OUT / entry["chart"] / f"{entry['version']}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mirrors", type=Path, required=True,
                        help="folder of git mirrors <owner>+<name>/repo")
    parser.add_argument("--only", action="append", default=[], metavar="CHART@VERSION")
    args = parser.parse_args(argv)
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    for entry in entries(manifest):
        if args.only and f"{entry['chart']}@{entry['version']}" not in args.only:
            continue
        target = output_path(entry)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(derive(entry, from_mirror(entry, args.mirrors)))
        print(f"wrote {target.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
