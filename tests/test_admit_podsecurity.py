"""The Pod Security port (admit/podsecurity.py) against the cases of the Pod Security
Standards (k8s.io/pod-security-admission v0.35.6 policy/check_*.go): each pod breaks exactly
the level it is listed under, and the version gates hold."""

from __future__ import annotations

from typing import Any

import pytest

from aifab.admit.podsecurity import parse_version, violations

RESTRICTED_OK: dict[str, Any] = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [{"name": "c", "image": "x", "securityContext": {
        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
}


def _with(container: dict[str, Any] | None = None, **pod: Any) -> dict[str, Any]:
    spec = {**RESTRICTED_OK, **pod}
    if container is not None:
        context = {**RESTRICTED_OK["containers"][0]["securityContext"], **container}
        spec["containers"] = [{"name": "c", "image": "x", "securityContext": context}]
    return spec


BASELINE_BREAKS = {
    "privileged": _with({"privileged": True}),
    "host-network": _with(hostNetwork=True),
    "host-pid": _with(hostPID=True),
    "host-path": _with(volumes=[{"name": "v", "hostPath": {"path": "/"}}]),
    "ipc-lock": _with({"capabilities": {"drop": ["ALL"], "add": ["IPC_LOCK"]}}),
    "sys-admin": _with({"capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}}),
    "unsafe-sysctl": _with(securityContext={
        **RESTRICTED_OK["securityContext"], "sysctls": [{"name": "kernel.msgmax", "value": "1"}]}),
    "unconfined-seccomp": _with({"seccompProfile": {"type": "Unconfined"}}),
    "proc-mount": _with({"procMount": "Unmasked"}),
    "selinux-user": _with({"seLinuxOptions": {"user": "root"}}),
}
RESTRICTED_BREAKS = {  # baseline admits these
    "root-user": _with({"runAsUser": 0}),
    "escalation": _with({"allowPrivilegeEscalation": True}),
    "no-drop-all": _with({"capabilities": {}}),
    "nfs-volume": _with(volumes=[{"name": "v", "nfs": {"server": "s", "path": "/"}}]),
    "no-seccomp": _with(securityContext={"runAsNonRoot": True}),
    "run-as-root-allowed": _with(securityContext={
        "seccompProfile": {"type": "RuntimeDefault"}}),
}


def test_a_restricted_pod_meets_every_level() -> None:
    for level in ("privileged", "baseline", "restricted"):
        assert violations(level, RESTRICTED_OK, {}, (1, 35)) == []


@pytest.mark.parametrize("case", sorted(BASELINE_BREAKS))
def test_baseline_breaks(case: str) -> None:
    spec = BASELINE_BREAKS[case]
    assert violations("baseline", spec, {}, (1, 35))
    assert violations("restricted", spec, {}, (1, 35))
    assert violations("privileged", spec, {}, (1, 35)) == []


@pytest.mark.parametrize("case", sorted(RESTRICTED_BREAKS))
def test_restricted_breaks(case: str) -> None:
    spec = RESTRICTED_BREAKS[case]
    assert violations("baseline", spec, {}, (1, 35)) == []
    assert violations("restricted", spec, {}, (1, 35))


def test_version_gates() -> None:
    tcp = _with(securityContext={**RESTRICTED_OK["securityContext"],
                                 "sysctls": [{"name": "net.ipv4.tcp_rmem", "value": "1"}]})
    assert violations("baseline", tcp, {}, (1, 31)) and not violations("baseline", tcp, {},
                                                                       (1, 32))
    host_probe = _with()
    host_probe["containers"] = [{**host_probe["containers"][0],
                                 "livenessProbe": {"httpGet": {"host": "10.0.0.1", "port": 80}}}]
    assert violations("baseline", host_probe, {}, (1, 34))
    assert not violations("baseline", host_probe, {}, (1, 33))
    userns = _with({"procMount": "Unmasked"}, hostUsers=False)
    assert not violations("baseline", userns, {}, (1, 35))
    assert violations("baseline", userns, {}, (1, 34))
    assert violations("restricted", userns, {}, (1, 35))


def test_versions_read_from_the_label() -> None:
    assert parse_version("v1.32") == (1, 32)
    assert parse_version("latest") == parse_version(None) == parse_version("v1.x") == (1, 35)
