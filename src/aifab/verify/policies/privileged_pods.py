"""Privileged pods only in operator namespaces.

Why: a privileged container, one that may escalate its privileges or holds a capability such
as SYS_ADMIN, is root on the node; a pod in the node's PID, IPC or network namespace sees and
reaches every pod there; a hostPath volume reads the node's files (kubelet credentials, other
tenants' data on local NVMe). On a GPU node shared by tenants each is an escape. The NVIDIA
operators need them, which is why their namespaces are the only exceptions; GPU workloads get
their devices from the device plugin and CDI without privilege.

Fix: drop the setting (GPUs through resources or a ResourceClaim, storage through a
PersistentVolumeClaim, traffic through a Service); an operator belongs in an operator
namespace (aifab.naming.OPERATOR_NAMESPACES, a reviewed code change).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from aifab.diagnostics import Finding, Path
from aifab.expand.common import Output
from aifab.naming import OPERATOR_NAMESPACES
from aifab.verify.policies._context import Context, describe, namespace_of, pod_specs

CODES = {
    "AF430": "privileged container, privilege escalation or added capability outside an "
             "operator namespace",
    "AF431": "host namespace (hostPID, hostIPC, hostNetwork) or hostPort outside an operator "
             "namespace",
    "AF432": "hostPath volume outside an operator namespace",
}

# Pod Security Standards, Baseline profile: the only capabilities a pod may add
# (https://kubernetes.io/docs/concepts/security/pod-security-standards/, "Capabilities").
BASELINE_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
HOST_NAMESPACES = ("hostPID", "hostIPC", "hostNetwork")


def check(ctx: Context) -> Iterator[Finding]:
    for out in ctx.objects:
        namespace = namespace_of(out.data)
        if namespace in OPERATOR_NAMESPACES:
            continue
        where = f"{describe(out.data)} in namespace '{namespace}'"
        hint = (f"only the operator namespaces ({', '.join(OPERATOR_NAMESPACES)}) may run "
                "privileged pods; GPU workloads get devices through the device plugin and CDI")
        for spec_path, spec in pod_specs(ctx, out.data):
            yield from _host_access(ctx, out, where, spec_path, spec, hint)
            for list_key in CONTAINER_LISTS:
                for i, container in enumerate(spec.get(list_key) or []):
                    if isinstance(container, Mapping):
                        yield from _container(ctx, out, where, spec_path + (list_key, i),
                                              container, hint)


def _host_access(ctx: Context, out: Output, where: str, path: Path, spec: Mapping[str, Any],
                 hint: str) -> Iterator[Finding]:
    for key in HOST_NAMESPACES:
        if spec.get(key) is True:
            yield ctx.finding(out, "AF431", f"{where} shares the node's {key[4:]} namespace "
                              f"({key}: true)", path + (key,), hint)
    for i, volume in enumerate(spec.get("volumes") or []):
        if isinstance(volume, Mapping) and "hostPath" in volume:
            yield ctx.finding(out, "AF432", f"{where} mounts the node's file system "
                              f"(hostPath volume {volume.get('name')!r})",
                              path + ("volumes", i, "hostPath"),
                              hint + "; use a PersistentVolumeClaim or an emptyDir instead")


def _container(ctx: Context, out: Output, where: str, path: Path, container: Mapping[str, Any],
               hint: str) -> Iterator[Finding]:
    who = f"container {container.get('name')!r} of {where}"
    security = container.get("securityContext") or {}
    sc = path + ("securityContext",)
    if security.get("privileged") is True:
        yield ctx.finding(out, "AF430", f"{who} is privileged (root on the node)",
                          sc + ("privileged",), hint)
    if security.get("allowPrivilegeEscalation") is True:
        yield ctx.finding(out, "AF430", f"{who} allows privilege escalation",
                          sc + ("allowPrivilegeEscalation",),
                          hint + "; set allowPrivilegeEscalation: false")
    added = (security.get("capabilities") or {}).get("add") or []
    for i, capability in enumerate(added):
        if str(capability).upper().removeprefix("CAP_") not in BASELINE_CAPABILITIES:
            yield ctx.finding(out, "AF430", f"{who} adds the capability {capability}",
                              sc + ("capabilities", "add", i),
                              hint + "; drop it (the Baseline profile allows only "
                              f"{', '.join(sorted(BASELINE_CAPABILITIES))})")
    for i, port in enumerate(container.get("ports") or []):
        if isinstance(port, Mapping) and port.get("hostPort"):
            yield ctx.finding(out, "AF431", f"{who} binds host port {port['hostPort']}",
                              path + ("ports", i, "hostPort"),
                              hint + "; expose the pod through a Service instead")
