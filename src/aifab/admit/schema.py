"""Judge: is the object valid for the cluster's API server?

Core kinds against the strict schemas of the cluster's Kubernetes version, custom resources
against the CRDs of the charts the cluster installs (exactly those: a kind nothing installs
is refused) and their CEL rules: the verifier's machinery (verify/kubernetes_schemas.py,
verify/crds.py, verify/cel.py), with findings told as admission answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING, Any

from aifab.admit.cluster import ClusterView
from aifab.admit.objects import Submitted
from aifab.diagnostics import Finding, Severity, finding

if TYPE_CHECKING:
    from aifab.verify.crds import CRDs

_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,62}$")
_API_VERSION = re.compile(r"^(?:[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?/)?v[0-9]+[a-z0-9]{0,20}$")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")

# The verifier's codes, as admission answers: (code, hint)
_AS_ADMISSION = {
    "AF401": ("AF701", ("fix the field: the API server validates every object against the "
                       "schema of its Kubernetes version (strict field validation)")),
    "AF402": ("AF702", ("fix the field: the API server validates a custom resource against its "
                       "CRD (strict field validation)")),
    "AF403": ("AF703", "use an apiVersion the installed CRD serves"),
    "AF407": ("AF703", ("use a kind the cluster serves: a core kind, or one of the CRDs the "
                       "charts in its tree install")),
    "AF410": ("AF704", ("the API server would refuse this object: a CEL rule "
                       "(x-kubernetes-validations) of its CRD fails")),
    "AF411": ("AF705", ("aifab could not evaluate this rule: check it with "
                       "`kubectl apply --dry-run=server`")),
}


def shape(obj: Submitted) -> Iterator[Finding]:
    """An object at all: a mapping with apiVersion, kind and metadata.name (AF706)."""
    data = obj.data
    if not isinstance(data, Mapping):
        yield finding("AF706", "this document is not a Kubernetes object (not a mapping)",
                      hint="each document of the file is one object: apiVersion, kind, "
                           "metadata, spec")
        return
    for key, pattern in (("apiVersion", _API_VERSION), ("kind", _KIND)):
        if not isinstance(data.get(key), str) or not pattern.match(data[key]):
            yield finding("AF706", f"{key} is missing or not valid", (key,),
                          hint="write apiVersion (e.g. batch/v1) and kind (e.g. Job)")
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if not isinstance(name, str) or not _NAME.match(name):
        yield finding("AF706", "metadata.name is missing or not a valid name",
                      ("metadata", "name") if isinstance(metadata, Mapping) else ("metadata",),
                      hint="a lowercase DNS name: letters, digits, '-' and '.'")
    namespace = metadata.get("namespace") if isinstance(metadata, Mapping) else None
    if namespace is not None and (not isinstance(namespace, str) or not _NAME.match(namespace)):
        yield finding("AF706", "metadata.namespace is not a valid name",
                      ("metadata", "namespace"), hint="a lowercase DNS label")


def judge(obj: Submitted, cluster: ClusterView) -> Iterator[Finding]:
    from aifab.verify.kubernetes_schemas import Validators

    core = Validators(cluster.kubernetes)
    data = obj.data
    found = core.check(data, obj.file) if core.knows(data) else \
        _custom(_releases(cluster)).check(data, obj.file)
    for f in found:
        code, hint = _AS_ADMISSION.get(f.code, (f.code, f.hint))
        severity = Severity.WARNING if code == "AF705" else Severity.ERROR
        message = f.message
        if f.code == "AF407":
            message = (f"{data['kind']} ({data['apiVersion']}) is not served by this cluster: "
                       "no chart it installs brings its CRD")
        yield replace(f, code=code, hint=hint, severity=severity, message=message)


def _releases(cluster: ClusterView) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({(r.chart, r.version) for r in cluster.releases}))


@cache
def _custom(releases: tuple[tuple[str, str], ...]) -> CRDs:
    from aifab.verify.crds import CRDs, shipped

    return CRDs(shipped(releases, companions=False),
                "the charts the cluster installs (" + ", ".join(
                    f"{c} {v}" for c, v in releases) + ")")


@cache
def namespaced_kinds(releases: tuple[tuple[str, str], ...]) -> frozenset[str]:
    """The custom kinds of the cluster whose CRD says `scope: Namespaced`."""
    from aifab.verify import chart_data

    return frozenset(crd["kind"] for chart, version in releases
                     if (data := chart_data.find(chart, version)) is not None
                     for crd in data.crds if crd.get("scope") == "Namespaced")


def is_namespaced(data: Mapping[str, Any], cluster: ClusterView) -> bool:
    """Whether the kind lives in a namespace: core kinds unless cluster-scoped (the API's
    list, `kubectl api-resources --namespaced=false`, Kubernetes v1.35), custom kinds by
    their CRD's scope."""
    kind = data.get("kind")
    if kind in CLUSTER_SCOPED_CORE:
        return False
    from aifab.verify.kubernetes_schemas import Validators

    return Validators(cluster.kubernetes).knows(data) or kind in namespaced_kinds(
        _releases(cluster))


CLUSTER_SCOPED_CORE = frozenset({
    "APIService", "CertificateSigningRequest", "ClusterRole", "ClusterRoleBinding",
    "ClusterTrustBundle", "ComponentStatus", "CSIDriver", "CSINode",
    "CustomResourceDefinition", "DeviceClass", "FlowSchema", "IngressClass", "IPAddress",
    "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding",
    "MutatingWebhookConfiguration", "Namespace", "Node", "PersistentVolume", "PriorityClass",
    "PriorityLevelConfiguration", "ResourceSlice", "RuntimeClass", "SelfSubjectAccessReview",
    "SelfSubjectReview", "SelfSubjectRulesReview", "ServiceCIDR", "StorageClass",
    "StorageVersionMigration", "SubjectAccessReview", "TokenReview",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration", "VolumeAttachment", "VolumeAttributesClass",
})
