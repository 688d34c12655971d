"""The Kubernetes version runs ValidatingAdmissionPolicy v1, which tenant safety relies on.

Tenant namespaces enforce Pod Security `privileged` and leave Baseline (with IPC_LOCK allowed)
to the ValidatingAdmissionPolicies aifab generates (aifab.expand.admission);
admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy is GA from Kubernetes 1.30
(https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/). On an
older cluster nothing would refuse a privileged tenant pod, so the blueprint is refused.
"""

from collections.abc import Iterator

from aifab.diagnostics import Finding, finding
from aifab.model import Cluster

CODES = {"AF396": "Kubernetes older than 1.30: no ValidatingAdmissionPolicy v1"}

MINIMUM = (1, 30)


def check(cluster: Cluster) -> Iterator[Finding]:
    major, minor = (int(part) for part in cluster.kubernetes.version.split(".")[:2])
    if (major, minor) < MINIMUM:
        yield finding("AF396", f"Kubernetes {cluster.kubernetes.version} has no "
                      "ValidatingAdmissionPolicy v1 (GA in 1.30): the admission policies that "
                      "keep tenant pods from privileged containers, hostPath and host "
                      "namespaces could not be installed", ("spec", "kubernetes", "version"),
                      hint="run Kubernetes 1.30 or later")
