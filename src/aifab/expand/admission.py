"""ValidatingAdmissionPolicies: what tenant pods may do, where GPUs go, where images come from.

Objects land in admission/ (cluster-scoped), each policy with its binding of the same name,
`validationActions: [Deny]` (admissionregistration.k8s.io/v1, GA in Kubernetes 1.30; the rule
AF396 refuses older clusters). docs/policies.md, policy 9, says which checks, why and what is
still refused.

- `aifab-tenant-baseline` (tenant namespaces, by their `aifab.dev/tenant` label): the Pod
  Security Baseline profile re-stated in CEL, with one difference: a container may add
  IPC_LOCK, which NCCL and RDMA pods need to pin memory. Pod Security Admission enforces
  `privileged` in those namespaces (expand/namespaces.py), since its Baseline refuses IPC_LOCK;
  this policy is what enforces there. Each check cites its upstream source,
  k8s.io/pod-security-admission at PSA_TAG, policy/<file>.
- `aifab-gpu-pods`, `aifab-gpu-claims`, `aifab-gpu-claim-templates` (every namespace that is
  neither a tenant's nor an operator's): no GPU resource and no ResourceClaim of an NVIDIA GPU
  device class.
- `aifab-image-mirror` (air-gapped clusters; every namespace but Kubernetes' own and those
  labelled `aifab.dev/mirror-exempt`): every image comes from the registry mirror.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from aifab.expand.common import Output, metadata, obj
from aifab.expand.namespaces import TENANT_LABEL, operator_namespaces
from aifab.model import Cluster

COMPONENT = "admission"
API = "admissionregistration.k8s.io/v1"
PSA_TAG = "v0.34.0"  # k8s.io/pod-security-admission, the tag every check below was read at
MIRROR_EXEMPT_LABEL = "aifab.dev/mirror-exempt"
NAME_LABEL = "kubernetes.io/metadata.name"  # set on every namespace by the API server
# Kubernetes' own namespaces: static (mirror) pods and the distribution's DaemonSets run there
# from images the installer provides, which aifab neither knows nor mirrors.
KUBERNETES_NAMESPACES = ("kube-node-lease", "kube-public", "kube-system")

TENANT_BASELINE = "aifab-tenant-baseline"
GPU_PODS = "aifab-gpu-pods"
GPU_CLAIMS = "aifab-gpu-claims"
GPU_CLAIM_TEMPLATES = "aifab-gpu-claim-templates"
IMAGE_MIRROR = "aifab-image-mirror"

# policy/check_capabilities_baseline.go (capabilities_allowed_1_0), plus IPC_LOCK.
BASELINE_CAPABILITIES = (
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
)
EXTRA_CAPABILITIES = ("IPC_LOCK",)
# policy/check_sysctls.go: the safe sysctls, by the Kubernetes minor that allowed them.
SAFE_SYSCTLS = (
    ((1, 0), ("kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
              "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
              "net.ipv4.ip_unprivileged_port_start")),
    ((1, 27), ("net.ipv4.ip_local_reserved_ports",)),
    ((1, 29), ("net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
               "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes")),
    ((1, 32), ("net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem")),
)
# policy/check_seLinuxOptions.go (selinuxAllowedTypes1_0, container_engine_t from 1.31)
SELINUX_TYPES = ((1, 0), ("", "container_t", "container_init_t", "container_kvm_t")), \
    ((1, 31), ("container_engine_t",))
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
HANDLERS = ("postStart", "preStop")
# The device plugin's GPU resources (expand/common.gpu_resources): nvidia.com/gpu, its shared
# renames (nvidia.com/gpu.shared) and MIG slices (nvidia.com/mig-<profile>).
GPU_RESOURCE_TEST = ("(k == 'nvidia.com/gpu' || k.startsWith('nvidia.com/gpu.') "
                     "|| k.startsWith('nvidia.com/mig-'))")
# The DRA driver's GPU device classes: gpu.nvidia.com and mig.nvidia.com (a class named
# *.gpu.nvidia.com is taken for a GPU one too); the ComputeDomain classes hand out IMEX
# channels, not GPUs.
GPU_CLASSES = ("gpu.nvidia.com", "mig.nvidia.com")


def kubernetes_minor(cluster: Cluster) -> tuple[int, int]:
    major, minor = cluster.kubernetes.version.split(".")[:2]
    return int(major), int(minor)


def _since(table: Sequence[tuple[tuple[int, int], tuple[str, ...]]],
           version: tuple[int, int]) -> list[str]:
    return [item for since, items in table if since <= version for item in items]


def _cel_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(f"'{item}'" for item in items) + "]"


def _unset_or(path: str, test: str) -> str:
    """`test` holds where every field of the dotted `path` is set (has() each step)."""
    parts = path.split(".")
    guards = [f"!has({'.'.join(parts[:i + 1])})" for i in range(1, len(parts))]
    return "(" + " || ".join([*guards, test]) + ")"


def _names(test: str) -> str:
    """A CEL list of the names of the containers, init and ephemeral containers for which
    `test` (over `c`) fails; ephemeral ones apart, since to CEL an EphemeralContainer is not a
    Container and the two lists do not concatenate."""
    lists = ["object.spec.containers",
             "(has(object.spec.initContainers) ? object.spec.initContainers : [])"]
    names = " + ".join(f"{items}.filter(c, !({test})).map(c, c.name)" for items in lists)
    ephemeral = (f"(has(object.spec.ephemeralContainers) ? object.spec.ephemeralContainers"
                 f".filter(c, !({test})).map(c, c.name) : [])")
    return f"({names} + {ephemeral})"


def _per_container(name: str, test: str, what: str,
                   source: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A variable `name` (the containers for which `test` fails) and its validation."""
    return ({"name": name, "expression": _names(test)},
            {"expression": f"size(variables.{name}) == 0",
             "messageExpression": f"'{what} (' + variables.{name}.join(', ') + '); Pod "
                                  f"Security Baseline, {source}'"})


def _pod(test: str, message: str, source: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    return None, {"expression": test, "message": f"{message}; Pod Security Baseline, {source}"}


def _annotations(prefix: str, allowed: str) -> str:
    """Every annotation whose key starts with `prefix` has a value for which `allowed` holds."""
    return ("(!has(object.metadata.annotations) || object.metadata.annotations.all(k, "
            f"!k.startsWith('{prefix}') || {allowed}))")


def _host_fields(c: str) -> str:
    """No probe or lifecycle handler of container `c` names a host."""
    tests = []
    for probe in PROBES:
        for handler in ("httpGet", "tcpSocket"):
            tests.append(_unset_or(f"{c}.{probe}.{handler}.host",
                                   f"{c}.{probe}.{handler}.host == ''"))
    for hook in HANDLERS:
        for handler in ("httpGet", "tcpSocket"):
            tests.append(_unset_or(f"{c}.lifecycle.{hook}.{handler}.host",
                                   f"{c}.lifecycle.{hook}.{handler}.host == ''"))
    return " && ".join(tests)


def baseline_checks(cluster: Cluster) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The variables and validations of the Pod Security Baseline checks at the cluster's
    Kubernetes minor, IPC_LOCK allowed."""
    version = kubernetes_minor(cluster)
    capabilities = _cel_list([*BASELINE_CAPABILITIES, *EXTRA_CAPABILITIES])
    selinux = _cel_list(_since(SELINUX_TYPES, version))
    sysctls = _cel_list(_since(SAFE_SYSCTLS, version))
    sc = "object.spec.securityContext"

    def selinux_ok(base: str) -> str:
        opts = f"{base}.seLinuxOptions"
        return (_unset_or(f"{opts}.type", f"{opts}.type in {selinux}") + " && "
                + _unset_or(f"{opts}.user", f"{opts}.user == ''") + " && "
                + _unset_or(f"{opts}.role", f"{opts}.role == ''"))

    privileged = _unset_or("c.securityContext.privileged",
                           "c.securityContext.privileged == false")
    host_ports = "!has(c.ports) || c.ports.all(p, !has(p.hostPort) || p.hostPort == 0)"
    added = _unset_or("c.securityContext.capabilities.add",
                      f"c.securityContext.capabilities.add.all(a, a in {capabilities})")
    proc_mount = _unset_or("c.securityContext.procMount",
                           "c.securityContext.procMount == 'Default'")
    apparmor = "['RuntimeDefault', 'Localhost']"
    seccomp_annotations = " && ".join(
        _annotations(prefix, "object.metadata.annotations[k] != 'unconfined'")
        for prefix in ("seccomp.security.alpha.kubernetes.io/",
                       "container.seccomp.security.alpha.kubernetes.io/"))
    apparmor_annotations = _annotations(
        "container.apparmor.security.beta.kubernetes.io/",
        "(object.metadata.annotations[k] in ['', 'runtime/default'] || "
        "object.metadata.annotations[k].startsWith('localhost/'))")

    def host_process(base: str) -> str:
        return _unset_or(f"{base}.windowsOptions.hostProcess",
                         f"{base}.windowsOptions.hostProcess == false")

    def seccomp(base: str) -> str:
        return _unset_or(f"{base}.seccompProfile.type",
                         f"{base}.seccompProfile.type != 'Unconfined'")

    def apparmor_ok(base: str) -> str:
        return _unset_or(f"{base}.appArmorProfile.type",
                         f"{base}.appArmorProfile.type in {apparmor}")

    selinux_what = "SELinux user, role or a type other than the container types is not allowed"
    apparmor_what = "AppArmor profiles other than RuntimeDefault and Localhost are not allowed"
    checks = [
        _per_container("privileged", privileged, "privileged containers are not allowed",
                       "check_privileged.go"),
        _pod("!(has(object.spec.hostNetwork) && object.spec.hostNetwork) && "
             "!(has(object.spec.hostPID) && object.spec.hostPID) && "
             "!(has(object.spec.hostIPC) && object.spec.hostIPC)",
             "the node's network, PID and IPC namespaces are not allowed "
             "(hostNetwork, hostPID, hostIPC)", "check_hostNamespaces.go"),
        _pod("!has(object.spec.volumes) || object.spec.volumes.all(v, !has(v.hostPath))",
             "hostPath volumes are not allowed", "check_hostPathVolumes.go"),
        _per_container("hostPorts", host_ports, "host ports are not allowed",
                       "check_hostPorts.go"),
        _per_container("capabilities", added,
                       "only the Baseline capabilities and IPC_LOCK may be added",
                       "check_capabilities_baseline.go"),
        _per_container("procMount", proc_mount, "procMount must be Default",
                       "check_procMount.go"),
        _pod(_unset_or(f"{sc}.sysctls", f"{sc}.sysctls.all(s, s.name in {sysctls})"),
             "only the safe sysctls are allowed", "check_sysctls.go"),
        _pod(f"{seccomp(sc)} && {seccomp_annotations}",
             "seccomp profile Unconfined is not allowed (pod)",
             "check_seccompProfile_baseline.go"),
        _per_container("seccomp", seccomp("c.securityContext"),
                       "seccomp profile Unconfined is not allowed",
                       "check_seccompProfile_baseline.go"),
        _pod(selinux_ok(sc), f"{selinux_what} (pod)", "check_seLinuxOptions.go"),
        _per_container("seLinux", selinux_ok("c.securityContext"), selinux_what,
                       "check_seLinuxOptions.go"),
        _pod(f"{apparmor_ok(sc)} && {apparmor_annotations}", f"{apparmor_what} (pod)",
             "check_appArmorProfile.go"),
        _per_container("appArmor", apparmor_ok("c.securityContext"), apparmor_what,
                       "check_appArmorProfile.go"),
        _pod(host_process(sc), "Windows host processes are not allowed (pod)",
             "check_windowsHostProcess.go"),
        _per_container("hostProcess", host_process("c.securityContext"),
                       "Windows host processes are not allowed", "check_windowsHostProcess.go"),
    ]
    if version >= (1, 34):  # policy/check_hostProbesAndhostLifecycle.go: Baseline from 1.34
        checks.append(_per_container("probeHosts", _host_fields("c"), "probes and lifecycle "
                                     "handlers may not name a host",
                                     "check_hostProbesAndhostLifecycle.go"))
    return ([variable for variable, _ in checks if variable is not None],
            [validation for _, validation in checks])


def _pod_rules() -> list[dict[str, Any]]:
    return [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
             "resources": ["pods", "pods/ephemeralcontainers"]}]


# Pod policies judge a pod when it is created and when its spec changes (an image, an ephemeral
# container), never a metadata-only update: the Job controller removing its tracking
# finalizer, Kueue lifting its scheduling gate or a label change must go through for pods that
# were created before a policy or binding existed (as Pod Security exempts such updates,
# k8s.io/pod-security-admission v0.34.0 admission/admission.go, "ignore metadata-only updates").
SPEC_CHANGES = {"name": "created-or-spec-changed",
                "expression": "request.operation == 'CREATE' || "
                              "request.subResource == 'ephemeralcontainers' || "
                              "object.spec != oldObject.spec"}


def _policy(cluster: Cluster, name: str, rules: list[dict[str, Any]],
            validations: list[dict[str, Any]],
            variables: list[dict[str, Any]] | None = None) -> Output:
    spec: dict[str, Any] = {"failurePolicy": "Fail", "matchConstraints": {"resourceRules": rules},
                            "validations": validations}
    if "UPDATE" in rules[0]["operations"]:
        spec["matchConditions"] = [SPEC_CHANGES]
    if variables:
        spec["variables"] = variables
    return obj(COMPONENT, {"apiVersion": API, "kind": "ValidatingAdmissionPolicy",
                           "metadata": metadata(cluster, name), "spec": spec})


def _binding(cluster: Cluster, name: str, expressions: list[dict[str, Any]]) -> Output:
    return obj(COMPONENT, {"apiVersion": API, "kind": "ValidatingAdmissionPolicyBinding",
                           "metadata": metadata(cluster, name), "spec": {
                               "policyName": name,
                               "validationActions": ["Deny"],
                               "matchResources": {"namespaceSelector": {
                                   "matchExpressions": expressions}}}})


def _gpu_class(field: str) -> str:
    """`field` names a GPU device class of the DRA driver."""
    return f"({field} in {_cel_list(GPU_CLASSES)} || {field}.endsWith('.gpu.nvidia.com'))"


def _gpu_claims(cluster: Cluster) -> Iterator[Output]:
    """ResourceClaims and their templates (resource.k8s.io/v1, Kubernetes >= 1.34: older
    clusters get the pod policy only); requests of other versions are converted to v1 before
    the policy sees them (matchPolicy Equivalent, the default)."""
    if kubernetes_minor(cluster) < (1, 34):
        return
    for name, resource, spec in ((GPU_CLAIMS, "resourceclaims", "object.spec"),
                                 (GPU_CLAIM_TEMPLATES, "resourceclaimtemplates",
                                  "object.spec.spec")):
        devices = f"{spec}.devices"
        exactly = _unset_or("r.exactly.deviceClassName",
                            "!" + _gpu_class("r.exactly.deviceClassName"))
        test = (f"!has({devices}) || !has({devices}.requests) || {devices}.requests.all(r, "
                f"{exactly} && "
                f"(!has(r.firstAvailable) || r.firstAvailable.all(s, "
                f"!{_gpu_class('s.deviceClassName')})))")
        yield _policy(cluster, name, [{"apiGroups": ["resource.k8s.io"], "apiVersions": ["v1"],
                                       "operations": ["CREATE"], "resources": [resource]}],
                      [{"expression": test, "message": "NVIDIA GPUs (device classes "
                        "gpu.nvidia.com, mig.nvidia.com) are for tenant namespaces only: "
                        "request them from a tenant's namespace"}])


def _gpu_resources_test(c: str) -> str:
    return " && ".join(f"(!has({c}.resources) || !has({c}.resources.{field}) || "
                       f"!{c}.resources.{field}.exists(k, {GPU_RESOURCE_TEST}))"
                       for field in ("limits", "requests"))


def _image_test(mirror: str) -> str:
    return f"c.image.startsWith('{mirror.rstrip('/')}/')"


def expand(cluster: Cluster) -> Iterator[Output]:
    if kubernetes_minor(cluster) < (1, 30):  # the rule AF396 refuses the blueprint
        return
    variables, validations = baseline_checks(cluster)
    yield _policy(cluster, TENANT_BASELINE, _pod_rules(), validations, variables)
    yield _binding(cluster, TENANT_BASELINE, [{"key": TENANT_LABEL, "operator": "Exists"}])

    outside = [{"key": TENANT_LABEL, "operator": "DoesNotExist"},
               {"key": NAME_LABEL, "operator": "NotIn", "values": operator_namespaces(cluster)}]
    yield _policy(cluster, GPU_PODS, _pod_rules(), [{
        "expression": "size(variables.withGPUs) == 0",
        "messageExpression": "'containers ' + variables.withGPUs.join(', ') + ' request NVIDIA "
                             "GPUs (nvidia.com/gpu, nvidia.com/mig-*), which are for tenant "
                             "namespaces only: run the pod in the namespace of a tenant'"}],
        [{"name": "withGPUs", "expression": _names(_gpu_resources_test("c"))}])
    yield _binding(cluster, GPU_PODS, outside)
    for claims in _gpu_claims(cluster):
        yield claims
        yield _binding(cluster, claims.data["metadata"]["name"], outside)

    sov = cluster.sovereignty
    if sov.air_gapped and sov.registry_mirror:
        yield _policy(cluster, IMAGE_MIRROR, _pod_rules(), [{
            "expression": "size(variables.unmirrored) == 0",
            "messageExpression": "'containers ' + variables.unmirrored.join(', ') + ' use "
                                 f"images from outside the registry mirror {sov.registry_mirror}"
                                 ": the cluster is air-gapped, so they cannot be pulled'"}],
            [{"name": "unmirrored", "expression": _names(_image_test(sov.registry_mirror))}])
        yield _binding(cluster, IMAGE_MIRROR, [
            {"key": NAME_LABEL, "operator": "NotIn", "values": list(KUBERNETES_NAMESPACES)},
            {"key": MIRROR_EXEMPT_LABEL, "operator": "DoesNotExist"}])
