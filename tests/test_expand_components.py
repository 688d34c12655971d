"""What every expand component owes, for every bundled cluster: the same output from two fresh
models, and core Kubernetes objects that the strict 1.34 schemas accept."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import kubernetes_validate
import pytest

from aifab.expand import components, namespaces, storage, tenants
from aifab.render import to_yaml
from bundled import CLUSTER_FILES, cluster_of

CORE_ONLY = (namespaces, storage, tenants)  # components that emit only core Kubernetes objects


def _name(component: ModuleType) -> str:
    return component.__name__.rpartition(".")[2]


def _rendered(component: ModuleType, blueprint: Path) -> list[tuple[str, str, str]]:
    return [(o.path, o.kind, to_yaml(o.data)) for o in component.expand(cluster_of(blueprint))]


@pytest.mark.parametrize("blueprint", CLUSTER_FILES, ids=lambda p: p.stem)
@pytest.mark.parametrize("component", components(), ids=_name)
def test_deterministic(component, blueprint):
    assert _rendered(component, blueprint) == _rendered(component, blueprint)


@pytest.mark.parametrize("blueprint", CLUSTER_FILES, ids=lambda p: p.stem)
@pytest.mark.parametrize("component", CORE_ONLY, ids=_name)
def test_valid_kubernetes_objects(component, blueprint):
    for output in component.expand(cluster_of(blueprint)):
        kubernetes_validate.validate(dict(output.data), "1.34", strict=True)
