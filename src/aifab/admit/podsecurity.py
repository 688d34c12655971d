"""The Pod Security Standards, baseline and restricted, checked as the admission plugin does.

A port of k8s.io/pod-security-admission v0.35.6 policy/check_*.go (github.com/kubernetes/
pod-security-admission, tag v0.35.6), with their version gates for Kubernetes 1.19 to 1.35:
each check visits the pod spec and every container (init, regular, ephemeral) and yields
(path under the pod spec, what is forbidden). Restricted is baseline plus its own checks
(and replaces baseline's capabilities check; from 1.35 its procMount check is not relaxed by
`hostUsers: false`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from aifab.admit.workloads import all_containers
from aifab.diagnostics import Path

LEVELS = ("privileged", "baseline", "restricted")
Violation = tuple[Path, str]

# check_capabilities_baseline.go capabilities_allowed_1_0
_DEFAULT_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
# check_sysctls.go sysctlsAllowedV1Dot0 .. V1Dot32
_SYSCTLS = (
    ((1, 0), {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
              "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
              "net.ipv4.ip_unprivileged_port_start"}),
    ((1, 27), {"net.ipv4.ip_local_reserved_ports"}),
    ((1, 29), {"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
               "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}),
    ((1, 32), {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}),
)
# check_restrictedVolumes.go: the volume sources restricted allows
_RESTRICTED_VOLUMES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                                 "image", "persistentVolumeClaim", "projected", "secret"})
_VOLUME_META = frozenset({"name"})


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _context(container: Mapping[str, Any]) -> Mapping[str, Any]:
    return _map(container.get("securityContext"))


def parse_version(text: Any) -> tuple[int, int]:
    """`v1.35` -> (1, 35); "latest", absent or odd: the newest this port knows."""
    if isinstance(text, str) and text.startswith("v1."):
        minor = text[3:]
        if minor.isdigit() and len(minor) <= 3:
            return 1, int(minor)
    return 1, 35


def violations(level: str, spec: Mapping[str, Any], metadata: Mapping[str, Any],
               version: tuple[int, int]) -> list[Violation]:
    """What the pod breaks at `level` ("privileged": nothing)."""
    if level not in ("baseline", "restricted"):
        return []
    found = list(_baseline(spec, metadata, version, level == "restricted"))
    if level == "restricted":
        found += _restricted(spec, version)
    return found


def _user_namespace(spec: Mapping[str, Any]) -> bool:
    return spec.get("hostUsers") is False  # helpers.go relaxPolicyForUserNamespacePod


def _baseline(spec: Mapping[str, Any], metadata: Mapping[str, Any], version: tuple[int, int],
              restricted: bool) -> Iterator[Violation]:
    for field in ("hostNetwork", "hostPID", "hostIPC"):  # check_hostNamespaces.go
        if spec.get(field) is True:
            yield (field,), f"{field}=true (host namespaces)"
    for index, volume in enumerate(_list(spec.get("volumes"))):  # check_hostPathVolumes.go
        if "hostPath" in _map(volume):
            yield ("volumes", index, "hostPath"), \
                f"volume {_map(volume).get('name')!r} uses hostPath"
    pod_context = _map(spec.get("securityContext"))
    yield from _selinux(("securityContext",), pod_context, version)
    yield from _apparmor(("securityContext",), pod_context)
    if _map(pod_context.get("seccompProfile")).get("type") == "Unconfined":
        yield ("securityContext", "seccompProfile", "type"), "seccompProfile type Unconfined"
    if _map(pod_context.get("windowsOptions")).get("hostProcess") is True:
        yield ("securityContext", "windowsOptions", "hostProcess"), "hostProcess=true"
    allowed = set().union(*(names for since, names in _SYSCTLS if version >= since))
    for index, sysctl in enumerate(_list(pod_context.get("sysctls"))):  # check_sysctls.go
        if _map(sysctl).get("name") not in allowed:
            yield ("securityContext", "sysctls", index), \
                f"sysctl {_map(sysctl).get('name')!r} is not a safe sysctl"
    for key, value in _map(metadata.get("annotations")).items():  # check_appArmorProfile.go
        if str(key).startswith("container.apparmor.security.beta.kubernetes.io/") and not (
                value == "runtime/default" or str(value).startswith("localhost/")):
            yield (), f"annotation {key}={value!r} (AppArmor profile)"
    for path, container in all_containers(spec):
        name = repr(container.get("name"))
        context = _context(container)
        if context.get("privileged") is True:  # check_privileged.go
            yield path + ("securityContext", "privileged"), f"container {name} is privileged"
        if not restricted:  # check_capabilities_baseline.go (restricted has its own)
            for cap in _list(_map(context.get("capabilities")).get("add")):
                if cap not in _DEFAULT_CAPABILITIES:
                    yield path + ("securityContext", "capabilities", "add"), \
                        f"container {name} adds capability {cap}"
        for index, port in enumerate(_list(container.get("ports"))):  # check_hostPorts.go
            if _map(port).get("hostPort") not in (None, 0):
                yield path + ("ports", index, "hostPort"), f"container {name} uses a hostPort"
        yield from _selinux(path + ("securityContext",), context, version)
        yield from _apparmor(path + ("securityContext",), context)
        # check_procMount_baseline.go; restricted (1.35, procMount_restricted) never relaxes
        relaxed = version >= (1, 35) and _user_namespace(spec) and not restricted
        if context.get("procMount") not in (None, "Default") and not relaxed:
            yield path + ("securityContext", "procMount"), \
                f"container {name} sets procMount {context['procMount']}"
        if _map(context.get("seccompProfile")).get("type") == "Unconfined":
            yield path + ("securityContext", "seccompProfile", "type"), \
                f"container {name} sets seccompProfile type Unconfined"
        if _map(context.get("windowsOptions")).get("hostProcess") is True:
            yield path + ("securityContext", "windowsOptions", "hostProcess"), \
                f"container {name} sets hostProcess=true"
        if version >= (1, 34):  # check_hostProbesAndhostLifecycle.go
            yield from _host_handlers(path, container, name)


def _host_handlers(path: Path, container: Mapping[str, Any], name: str) -> Iterator[Violation]:
    handlers: list[tuple[Path, Mapping[str, Any]]] = [
        ((probe,), _map(container.get(probe)))
        for probe in ("livenessProbe", "readinessProbe", "startupProbe")]
    handlers += [(("lifecycle", hook), _map(_map(container.get("lifecycle")).get(hook)))
                 for hook in ("postStart", "preStop")]
    for where, handler in handlers:
        for kind in ("httpGet", "tcpSocket"):
            if _map(handler.get(kind)).get("host"):
                yield path + where + (kind, "host"), \
                    f"container {name} sets a probe or lifecycle host"


def _selinux(path: Path, context: Mapping[str, Any], version: tuple[int, int]
             ) -> Iterator[Violation]:
    """check_seLinuxOptions.go: a type from the allowed set, no user, no role."""
    options = _map(context.get("seLinuxOptions"))
    allowed = {"", "container_t", "container_init_t", "container_kvm_t"}
    if version >= (1, 31):
        allowed.add("container_engine_t")
    if options.get("type", "") not in allowed:
        yield path + ("seLinuxOptions", "type"), f"seLinuxOptions type {options['type']!r}"
    for field in ("user", "role"):
        if options.get(field):
            yield path + ("seLinuxOptions", field), f"seLinuxOptions {field} is set"


def _apparmor(path: Path, context: Mapping[str, Any]) -> Iterator[Violation]:
    kind = _map(context.get("appArmorProfile")).get("type")
    if kind is not None and kind not in ("RuntimeDefault", "Localhost"):
        yield path + ("appArmorProfile", "type"), f"AppArmor profile type {kind}"


def _restricted(spec: Mapping[str, Any], version: tuple[int, int]) -> list[Violation]:
    found: list[Violation] = []
    windows = version >= (1, 25) and _map(spec.get("os")).get("name") == "windows"
    userns = _user_namespace(spec)
    for index, volume in enumerate(_list(spec.get("volumes"))):  # check_restrictedVolumes.go
        sources = set(_map(volume)) - _VOLUME_META
        if not sources <= _RESTRICTED_VOLUMES:
            found.append((("volumes", index), (f"volume {_map(volume).get('name')!r} uses "
                          f"{', '.join(sorted(sources - _RESTRICTED_VOLUMES))}")))
    pod_context = _map(spec.get("securityContext"))
    pod_non_root = pod_context.get("runAsNonRoot")
    if pod_non_root is False and not (version >= (1, 35) and userns):
        found.append((("securityContext", "runAsNonRoot"), "pod sets runAsNonRoot=false"))
    if pod_context.get("runAsUser") == 0 and not (version >= (1, 35) and userns):
        found.append((("securityContext", "runAsUser"), "pod sets runAsUser=0"))
    pod_seccomp = _map(pod_context.get("seccompProfile")).get("type")
    for path, container in all_containers(spec):
        name = repr(container.get("name"))
        context = _context(container)
        at = path + ("securityContext",)
        if context.get("allowPrivilegeEscalation") is not False and not windows:
            found.append((at, f"container {name} must set allowPrivilegeEscalation=false"))
        if not (version >= (1, 35) and userns):  # check_runAsNonRoot.go, check_runAsUser.go
            if context.get("runAsNonRoot") is False:
                found.append((at + ("runAsNonRoot",), (f"container {name} sets "
                              "runAsNonRoot=false")))
            elif context.get("runAsNonRoot") is None and pod_non_root is not True:
                found.append((at, f"pod or container {name} must set runAsNonRoot=true"))
            if context.get("runAsUser") == 0:
                found.append((at + ("runAsUser",), f"container {name} sets runAsUser=0"))
        seccomp = _map(context.get("seccompProfile")).get("type")  # check_seccompProfile_...
        if not windows and (seccomp not in (None, "RuntimeDefault", "Localhost") or (
                seccomp is None and pod_seccomp not in ("RuntimeDefault", "Localhost"))):
            found.append((at, (f"pod or container {name} must set seccompProfile type "
                          "RuntimeDefault or Localhost")))
        if windows:  # check_capabilities_restricted.go
            continue
        capabilities = _map(context.get("capabilities"))
        if "ALL" not in _list(capabilities.get("drop")):
            found.append((at, f"container {name} must drop ALL capabilities"))
        for cap in _list(capabilities.get("add")):
            if cap != "NET_BIND_SERVICE":
                found.append((at + ("capabilities", "add"), (f"container {name} adds capability "
                              f"{cap}")))
    return found
