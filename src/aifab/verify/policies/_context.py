"""What every policy gets: the outputs of one cluster, who is a tenant, and ways to walk them.

Who is an operator and who is a tenant comes from aifab.naming (OPERATOR_NAMESPACES,
SYSTEM_NAMESPACES, tenant_namespace) and the cluster model, never from literals in a policy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aifab.diagnostics import Finding, Path, Severity
from aifab.expand.common import Output, obj
from aifab.expand.flux import releases_by_path
from aifab.expand.namespaces import COMPONENT as NAMESPACES_COMPONENT
from aifab.model import Cluster
from aifab.naming import OPERATOR_NAMESPACES, SYSTEM_NAMESPACES, tenant_namespace

if TYPE_CHECKING:
    from aifab.memo import Memo

Walked = tuple[Path, Mapping[str, Any]]  # a mapping inside an object, and its path


class Context:
    """The outputs of one cluster, with the views every policy needs computed once."""

    def __init__(self, outputs: Sequence[Output], cluster: Cluster, folder: str,
                 rendered: Mapping[str, bytes] | None = None, memo: Memo | None = None) -> None:
        self.outputs = tuple(outputs)
        self.cluster = cluster
        self.folder = folder
        self.rendered, self.memo = rendered, memo  # see policies.secrets
        self.objects = [o for o in self.outputs if o.kind == "object"]
        self.releases = [o for o in self.outputs if o.kind == "release"]  # Flux HelmReleases
        self.charts = releases_by_path(self.outputs)  # each release read with its source
        self._kinds: dict[str, list[Output]] = {}
        self._mappings: dict[tuple[int, Path], tuple[Any, list[Walked]]] = {}
        for out in self.objects:
            self._kinds.setdefault(str(out.data.get("kind")), []).append(out)
        # The blueprint's tenants' namespaces, plus any generated Namespace that is neither an
        # operator's nor a system one (a namespace nobody declared is treated as a tenant's).
        names = {tenant_namespace(t.name) for t in cluster.tenants}
        names |= {name_of(out.data) for out in self.of_kind("Namespace")}
        self.tenant_namespaces = sorted(name for name in names if name not in OPERATOR_NAMESPACES
                                        and name not in SYSTEM_NAMESPACES)

    def source_of(self, release: Output) -> Output:
        """The OCIRepository or HelmRepository output a HelmRelease output takes its chart from."""
        source = self.charts[release.path].source
        return next(o for o in self.objects if o.data is source)

    def of_kind(self, kind: str) -> list[Output]:
        return self._kinds.get(kind, [])

    def mappings(self, data: Any, base: Path = ()) -> list[Walked]:
        """Every mapping inside `data` with its path: walked once, whichever policy asks."""
        key = (id(data), base)
        if key not in self._mappings:  # kept with `data`, so that its id is not reused
            self._mappings[key] = (data, walk(data, base))
        return self._mappings[key][1]

    def namespace_output(self, namespace: str) -> Output:
        """The Namespace object's output, or the one aifab would write (to report at)."""
        for out in self.of_kind("Namespace"):
            if name_of(out.data) == namespace:
                return out
        return obj(NAMESPACES_COMPONENT, {"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": namespace}})

    def finding(self, out: Output, code: str, message: str, path: Path, hint: str) -> Finding:
        return Finding(f"{self.folder}/{out.path}", 1, 1, code, Severity.ERROR, message,
                       tuple(path), hint)


def name_of(data: Mapping[str, Any]) -> str:
    return str((data.get("metadata") or {}).get("name", ""))


def namespace_of(data: Mapping[str, Any]) -> str:
    """The namespace a namespaced object lands in (`default` when it names none)."""
    return str((data.get("metadata") or {}).get("namespace") or "default")


def describe(data: Mapping[str, Any]) -> str:
    return f"{data.get('kind', 'object')} {name_of(data)!r}"


def is_mapping(node: Any) -> bool:
    return type(node) is dict or isinstance(node, Mapping)  # dict first: the ABC check is slow


_SCALARS = frozenset({str, int, float, bool, type(None)})


def walk(node: Any, path: Path = ()) -> list[Walked]:
    """Every mapping inside `node` (itself included), with its path, depth first in order."""
    found: list[Walked] = []
    _collect(node, path, found)
    return found


def _collect(node: Any, path: Path, found: list[Walked]) -> None:
    if is_mapping(node):
        found.append((path, node))
        for key, value in node.items():
            if type(value) not in _SCALARS:
                _collect(value, path + (key,), found)
    elif type(node) in (list, tuple):
        for i, item in enumerate(node):
            if type(item) not in _SCALARS:
                _collect(item, path + (i,), found)


def strings(node: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every string inside `node` with its path (whose last element is its key or index)."""
    if type(node) is str:
        yield path, node
    elif is_mapping(node):
        for key, value in node.items():
            if type(value) is str:
                yield path + (key,), value
            else:
                yield from strings(value, path + (key,))
    elif type(node) in (list, tuple):
        for i, item in enumerate(node):
            if type(item) is str:
                yield path + (i,), item
            else:
                yield from strings(item, path + (i,))


def pod_specs(ctx: Context, data: Mapping[str, Any]) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    """Every pod spec in an object: any mapping with a `containers` list, wherever it sits
    (Pod spec, spec.template.spec, spec.jobTemplate.spec.template.spec, custom resources)."""
    for path, node in ctx.mappings(data):
        if isinstance(node.get("containers"), list):
            yield path, node
