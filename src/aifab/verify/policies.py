"""Policies: security guarantees every generated cluster keeps, checked on every generate.

The schemas say an object is well formed; these say it is safe to apply to a shared, sovereign
GPU cluster. Each policy is one small function over all outputs of a cluster and is documented
with its codes, reason and fix in docs/policies.md:

1. privileged pods (privileged, privilege escalation, added capabilities, host namespaces and
   ports, hostPath volumes) only in the operator namespaces (AF430-AF432);
2. every Namespace enforces a Pod Security level, tenant namespaces `restricted` or `baseline`
   (AF433, AF434);
3. every tenant namespace has a default-deny NetworkPolicy and no allow-all rule (AF435);
4. an air-gapped cluster pulls every image and chart through its mirrors (AF436, AF437);
5. images and charts are pinned: no missing tag, no `latest` (AF438);
6. no Secret objects and nothing that looks like a credential (AF439, AF440);
7. tenant RBAC has no wildcards and nothing cluster-wide (AF441, AF442);
8. every tenant namespace has a GPU ResourceQuota capping every GPU resource (AF443, AF444).

Who is an operator and who is a tenant comes from aifab.naming (OPERATOR_NAMESPACES,
SYSTEM_NAMESPACES, tenant_namespace) and the cluster model, never from literals here. Pod specs
are found wherever they sit (any mapping with a `containers` list), so a Deployment, a CronJob's
job template or a custom resource embedding a pod template are all covered. Helm release values
are not pods (the chart renders them), so policies 1-3 skip releases; the image, mirror, pin
and secret policies read them.
"""

from __future__ import annotations

import base64
import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aifab.diagnostics import Finding, Path, Severity
from aifab.expand.common import GPU_RESOURCE, Output, gpu_resources, obj
from aifab.expand.namespaces import COMPONENT as NAMESPACES_COMPONENT
from aifab.expand.namespaces import PSA
from aifab.model import Cluster
from aifab.naming import (
    EVERYONE_GROUPS,
    OPERATOR_NAMESPACES,
    SYSTEM_NAMESPACES,
    is_rbac_system_name,
    service_account_namespace,
    tenant_namespace,
)

if TYPE_CHECKING:
    from aifab.watch import Memo

CODES = {
    "AF430": "privileged container, privilege escalation or added capability outside an "
             "operator namespace",
    "AF431": "host namespace (hostPID, hostIPC, hostNetwork) or hostPort outside an operator "
             "namespace",
    "AF432": "hostPath volume outside an operator namespace",
    "AF433": "Namespace without a Pod Security enforce level",
    "AF434": "tenant namespace not at Pod Security restricted or baseline",
    "AF435": "tenant namespace without a default-deny NetworkPolicy, or with an allow-all rule",
    "AF436": "image not pulled through the registry mirror of an air-gapped cluster",
    "AF437": "chart not pulled through the chart mirror of an air-gapped cluster",
    "AF438": "image or chart not pinned (no tag, or a moving tag such as latest)",
    "AF439": "Secret object in the generated output",
    "AF440": "value that looks like a credential in the generated output",
    "AF441": "wildcard or escalation verb in a tenant Role",
    "AF442": "tenant granted rights through a ClusterRole or outside its namespace",
    "AF443": "tenant namespace without a GPU ResourceQuota",
    "AF444": "tenant GPU ResourceQuota leaves a GPU resource of the cluster uncapped",
}

PSA_ENFORCE = f"{PSA}/enforce"
PSA_LEVELS = ("privileged", "baseline", "restricted")
TENANT_PSA_LEVELS = ("restricted", "baseline")

# Pod Security Standards, Baseline profile: the only capabilities a pod may add
# (https://kubernetes.io/docs/concepts/security/pod-security-standards/, "Capabilities").
BASELINE_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
HOST_NAMESPACES = ("hostPID", "hostIPC", "hostNetwork")

# Tags that move: the image behind them changes without the manifest changing.
MOVING_TAGS = frozenset({"latest", "edge", "nightly", "main", "master", "stable"})

RBAC_GROUP = "rbac.authorization.k8s.io"
# Verbs that let a Role holder grant itself more (RBAC good practices, "Privilege escalation
# risks": escalate, bind, impersonate).
ESCALATION_VERBS = frozenset({"escalate", "bind", "impersonate"})
# The members of a group every tenant is in (aifab.naming.EVERYONE_GROUPS)
EVERYONE = frozenset({"*"})
AGGREGATE_LABEL = f"{RBAC_GROUP}/aggregate-to-"

MIG_QUOTA_PREFIX = "requests.nvidia.com/mig-"

# -- secrets --------------------------------------------------------------------------------------

# Key words that name a credential (compared with '-', '_', '.' removed and lower-cased) ...
SECRET_KEY_WORDS = ("password", "passwd", "passphrase", "pwd", "secret", "token", "apikey",
                    "privatekey", "accesskey", "secretkey", "credential", "clientsecret")
# ... unless the key ends with one of these: then the value names or locates the credential
# (csi.storage.k8s.io/provisioner-secret-name: csi-cephfs-secret), it is not the credential.
# Such a value must have the shape of what the key says it is (a Secret's name is a DNS
# subdomain, lower-case), else it is the credential itself (passwordRef: "P@ssw0rd!").
SECRET_KEY_REFERENCES = {
    "name": "name", "namespace": "name", "names": "name", "ref": "name",
    "path": "path", "file": "path", "dir": "path",
    "url": "url", "uri": "url", "endpoint": "url",
    "enabled": "word", "mode": "word", "type": "word",
}
_NAME = r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?"
REFERENCE_SHAPES = {  # what a reference looks like, and what to call it
    "name": (re.compile(rf"{_NAME}(?:/{_NAME})?(?:, ?{_NAME}(?:/{_NAME})?)*"),
             "the name of a Secret (lower-case letters, digits, '-' and '.')"),
    "path": (re.compile(r"[\w.~/-]+"), "a path"),
    "url": (re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+|[A-Za-z0-9.-]+(?::\d+)?(?:/\S*)?"),
            "a URL"),
    "word": (re.compile(r"[A-Za-z0-9._/-]{1,253}"), "a setting"),
}

# A credential written into text as `key=value` or `key: value` (a mount option
# `password=...`, a description): the key is judged as a mapping key would be.
# Every key naming a credential contains one of these once '-', '_' and '.' are removed and
# it is lower-cased (see SECRET_KEY_WORDS): text without any holds no such pair.
CREDENTIAL_STEMS = ("pass", "pwd", "secret", "token", "key", "credential")
TEXT_PAIR_KEY = r"""(?<![\w.])["']?([A-Za-z][\w.-]*)["']?[ \t]*[=:]"""
TEXT_PAIR_KEYS = re.compile(TEXT_PAIR_KEY)
TEXT_PAIRS = re.compile(TEXT_PAIR_KEY + r"""[ \t]*["']?([^\s,;&"'<>]*)""")
# Values that stand for a credential rather than being one: ${VAR}, {{ .Values.x }}, <token>,
# %(x)s, *****.
PLACEHOLDER = re.compile(r"[$<{%]|\*+$")


def _may_hold_pair(text: str) -> bool:
    """Whether `text` may hold a `key=value` pair whose key names a credential: one search
    of plain substrings, so that most text is dismissed without a regex."""
    normal = text.lower().replace("-", "").replace("_", "").replace(".", "")
    return any(stem in normal for stem in CREDENTIAL_STEMS)


def _placeholder(value: str) -> bool:
    return bool(PLACEHOLDER.match(value))


def _basic_credentials(token: str) -> bool:
    """Whether an HTTP Basic token is base64 of `user:password` (RFC 7617, section 2)."""
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return False
    return ":" in decoded and decoded.isprintable()


def _bearer_token(token: str) -> bool:
    """Whether the word after `Bearer` is a token, not prose (`Bearer tokens expire`)."""
    return len(token) >= 20 or any(c.isdigit() for c in token)


# GitLab's token prefixes after `gl` (https://docs.gitlab.com/security/tokens/, "Token
# prefixes"): personal, deploy, runner, CI/CD job, trigger, feed, incoming mail, agent, OAuth
# application and SCIM tokens.
GITLAB_TOKENS = ("pat", "dt", "rt", "rtr", "cbt", "ptt", "ft", "imt", "agent", "oas", "soat")

# Values that are credentials whatever their key: (what, literal anchors, pattern, and a test
# of the match where the pattern alone would catch prose). The anchors are plain substrings
# every match contains, so most text is dismissed without a regex.
SECRET_VALUES: tuple[tuple[str, tuple[str, ...], re.Pattern[str],
                           Callable[[re.Match[str]], bool] | None], ...] = (
    ("a PEM private key", ("PRIVATE KEY",),
     re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"), None),
    ("a JSON Web Token", ("eyJ",),
     re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), None),
    ("an AWS access key id", ("AKIA", "ASIA", "ABIA", "ACCA"),
     re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"), None),
    ("a GitHub token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
     re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"), None),
    ("a GitLab token", tuple(f"gl{kind}-" for kind in GITLAB_TOKENS),
     re.compile(rf"\bgl(?:{'|'.join(GITLAB_TOKENS)})-[A-Za-z0-9_.-]{{20,}}"), None),
    ("an NVIDIA NGC API key", ("nvapi-",), re.compile(r"\bnvapi-[A-Za-z0-9_-]{20,}"), None),
    ("a Hugging Face token", ("hf_",), re.compile(r"\bhf_[A-Za-z0-9]{30,}"), None),
    ("a Slack token", ("xox",), re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), None),
    ("a Google API key", ("AIza",), re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), None),
    ("an OpenAI-style secret key", ("sk-",),
     re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{32,}"), None),
    # userinfo with a password (RFC 3986, section 3.2.1: "user:password" is deprecated)
    ("a password in a URL (user:password@host)", ("://",),
     re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@?#]*:([^/\s@?#]+)@"),
     lambda m: not _placeholder(m[1])),
    ("HTTP Basic credentials", ("Basic", "basic", "BASIC"),
     re.compile(r"\b(?i:basic)[ \t]+([A-Za-z0-9+/]{4,}={0,2})(?![\w+/=])"),
     lambda m: _basic_credentials(m[1])),
    ("an HTTP Bearer token", ("Bearer", "bearer", "BEARER"),
     re.compile(r"\b(?i:bearer)[ \t]+([A-Za-z0-9._~+/-]{8,}=*)"),
     lambda m: _bearer_token(m[1])),
)
# Every anchor in one search: text without any of them holds no credential of a known format
SECRET_ANCHORS = re.compile("|".join(re.escape(a) for _, anchors, _, _ in SECRET_VALUES
                                     for a in anchors))
# A long run of base64 / base64url characters with letters of both cases and digits ...
HIGH_ENTROPY_MIN = 32
HIGH_ENTROPY_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{%d,}" % HIGH_ENTROPY_MIN)
# ... and at least this many bits of Shannon entropy per character (random base64 of 32+
# characters has ~4.5-5; identifiers, paths and hex digests stay below).
HIGH_ENTROPY_BITS = 4.2


# -- the context every policy gets ----------------------------------------------------------------

Walked = tuple[Path, Mapping[str, Any]]  # a mapping inside an object, and its path

class Context:
    """The outputs of one cluster, with the views every policy needs computed once."""

    def __init__(self, outputs: Sequence[Output], cluster: Cluster, folder: str,
                 rendered: Mapping[str, bytes] | None = None, memo: Memo | None = None) -> None:
        self.outputs = tuple(outputs)
        self.cluster = cluster
        self.folder = folder
        self._rendered, self._memo = rendered, memo
        self.objects = [o for o in self.outputs if o.kind == "object"]
        self.releases = [o for o in self.outputs if o.kind == "release"]
        self._kinds: dict[str, list[Output]] = {}
        self._mappings: dict[tuple[int, Path], tuple[Any, list[Walked]]] = {}
        for out in self.objects:
            self._kinds.setdefault(str(out.data.get("kind")), []).append(out)
        # The blueprint's tenants' namespaces, plus any generated Namespace that is neither an
        # operator's nor a system one (a namespace nobody declared is treated as a tenant's).
        names = {tenant_namespace(t.name) for t in cluster.tenants}
        names |= {_name(out.data) for out in self.of_kind("Namespace")}
        self.tenant_namespaces = sorted(name for name in names if name not in OPERATOR_NAMESPACES
                                        and name not in SYSTEM_NAMESPACES)

    def of_kind(self, kind: str) -> list[Output]:
        return self._kinds.get(kind, [])

    def mappings(self, data: Any, base: Path = ()) -> list[Walked]:
        """Every mapping inside `data` with its path: walked once, whichever policy asks."""
        key = (id(data), base)
        if key not in self._mappings:  # kept with `data`, so that its id is not reused
            self._mappings[key] = (data, _walk(data, base))
        return self._mappings[key][1]

    def may_hold_secret(self, out: Output) -> bool:
        """_may_hold_secret, from the memo for a file seen byte for byte in the previous run."""
        if self._memo is None or self._rendered is None:
            return _may_hold_secret(out.data)
        return self._memo.get(("may hold a secret", self._rendered[out.path]),
                              lambda: _may_hold_secret(out.data))

    def namespace_output(self, namespace: str) -> Output:
        """The Namespace object's output, or the one aifab would write (to report at)."""
        for out in self.of_kind("Namespace"):
            if _name(out.data) == namespace:
                return out
        return obj(NAMESPACES_COMPONENT, {"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": namespace}})

    def finding(self, out: Output, code: str, message: str, path: Path, hint: str) -> Finding:
        return Finding(f"{self.folder}/{out.path}", 1, 1, code, Severity.ERROR, message,
                       tuple(path), hint)


def _name(data: Mapping[str, Any]) -> str:
    return str((data.get("metadata") or {}).get("name", ""))


def _namespace(data: Mapping[str, Any]) -> str:
    """The namespace a namespaced object lands in (`default` when it names none)."""
    return str((data.get("metadata") or {}).get("namespace") or "default")


def _what(data: Mapping[str, Any]) -> str:
    return f"{data.get('kind', 'object')} {_name(data)!r}"


def _is_mapping(node: Any) -> bool:
    return type(node) is dict or isinstance(node, Mapping)  # dict first: the ABC check is slow


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _walk(node: Any, path: Path = ()) -> list[Walked]:
    """Every mapping inside `node` (itself included), with its path, depth first in order."""
    found: list[Walked] = []
    _collect(node, path, found)
    return found


def _collect(node: Any, path: Path, found: list[Walked]) -> None:
    if _is_mapping(node):
        found.append((path, node))
        for key, value in node.items():
            if type(value) not in _SCALARS:
                _collect(value, path + (key,), found)
    elif type(node) in (list, tuple):
        for i, item in enumerate(node):
            if type(item) not in _SCALARS:
                _collect(item, path + (i,), found)


def _strings(node: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every string inside `node` with its path (whose last element is its key or index)."""
    if type(node) is str:
        yield path, node
    elif _is_mapping(node):
        for key, value in node.items():
            if type(value) is str:
                yield path + (key,), value
            else:
                yield from _strings(value, path + (key,))
    elif type(node) in (list, tuple):
        for i, item in enumerate(node):
            if type(item) is str:
                yield path + (i,), item
            else:
                yield from _strings(item, path + (i,))


def _pod_specs(ctx: Context, data: Mapping[str, Any]) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    """Every pod spec in an object: any mapping with a `containers` list, wherever it sits
    (Pod spec, spec.template.spec, spec.jobTemplate.spec.template.spec, custom resources)."""
    for path, node in ctx.mappings(data):
        if isinstance(node.get("containers"), list):
            yield path, node


# -- 1. privileged pods only in operator namespaces -----------------------------------------------

def privileged_pods(ctx: Context) -> Iterator[Finding]:
    for out in ctx.objects:
        namespace = _namespace(out.data)
        if namespace in OPERATOR_NAMESPACES:
            continue
        where = f"{_what(out.data)} in namespace '{namespace}'"
        hint = (f"only the operator namespaces ({', '.join(OPERATOR_NAMESPACES)}) may run "
                "privileged pods; GPU workloads get devices through the device plugin and CDI")
        for spec_path, spec in _pod_specs(ctx, out.data):
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


# -- 2. Pod Security Admission labels -------------------------------------------------------------

def pod_security(ctx: Context) -> Iterator[Finding]:
    namespaces = {_name(out.data): out for out in ctx.of_kind("Namespace")}
    for name in ctx.tenant_namespaces:
        if name not in namespaces:
            yield ctx.finding(ctx.namespace_output(name), "AF433",
                              f"tenant namespace '{name}' has no Namespace object, so nothing "
                              "sets its Pod Security level", ("metadata", "name"),
                              "generate the tenant's Namespace with the "
                              f"{PSA_ENFORCE} label (component '{NAMESPACES_COMPONENT}')")
    labels_path = ("metadata", "labels")
    for name, out in sorted(namespaces.items()):
        labels = (out.data.get("metadata") or {}).get("labels") or {}
        level = labels.get(PSA_ENFORCE)
        if level not in PSA_LEVELS:
            problem = "has no" if level is None else f"has an unknown ({level!r})"
            yield ctx.finding(out, "AF433", f"Namespace '{name}' {problem} Pod Security "
                              f"enforce level ({PSA_ENFORCE}): the cluster default applies, "
                              "which is usually privileged", labels_path + (PSA_ENFORCE,),
                              f"label it {PSA_ENFORCE}: restricted (tenants) or privileged "
                              "(operator namespaces)")
        elif name not in OPERATOR_NAMESPACES and level not in TENANT_PSA_LEVELS:
            yield ctx.finding(out, "AF434", f"namespace '{name}' enforces Pod Security "
                              f"'{level}'; tenant namespaces must enforce "
                              f"{' or '.join(TENANT_PSA_LEVELS)}", labels_path + (PSA_ENFORCE,),
                              "set it to restricted; only the operator namespaces "
                              f"({', '.join(OPERATOR_NAMESPACES)}) may be privileged")


# -- 3. default-deny NetworkPolicy per tenant namespace -------------------------------------------

def _is_default_deny(spec: Mapping[str, Any]) -> bool:
    selector = spec.get("podSelector")
    selects_all = isinstance(selector, Mapping) and not any(selector.values())
    types = set(spec.get("policyTypes") or [])
    return (selects_all and {"Ingress", "Egress"} <= types
            and not spec.get("ingress") and not spec.get("egress"))


def network_policies(ctx: Context) -> Iterator[Finding]:
    policies = ctx.of_kind("NetworkPolicy")
    for namespace in ctx.tenant_namespaces:
        mine = [out for out in policies if _namespace(out.data) == namespace]
        if not any(_is_default_deny(out.data.get("spec") or {}) for out in mine):
            yield ctx.finding(ctx.namespace_output(namespace), "AF435",
                              f"tenant namespace '{namespace}' has no default-deny "
                              "NetworkPolicy: its pods accept traffic from every namespace "
                              "and reach anything", ("metadata", "name"),
                              "add a NetworkPolicy with podSelector: {}, policyTypes: [Ingress, "
                              "Egress] and no rules, then allow what is needed explicitly")
        for out in mine:
            spec = out.data.get("spec") or {}
            for direction, peers in (("ingress", "from"), ("egress", "to")):
                for i, rule in enumerate(spec.get(direction) or []):
                    if isinstance(rule, Mapping) and not rule.get(peers) and not rule.get("ports"):
                        yield ctx.finding(out, "AF435", f"{_what(out.data)} in tenant namespace "
                                          f"'{namespace}' allows all {direction} (a rule with "
                                          f"neither '{peers}' nor 'ports'), which undoes the "
                                          "default deny", ("spec", direction, i),
                                          f"name the peers in '{peers}' (podSelector, "
                                          "namespaceSelector) or remove the rule")


# -- 4. air gap: images and charts through the mirrors --------------------------------------------

def _image_locations(ctx: Context, data: Any, base: Path = ()) -> Iterator[tuple[Path, str]]:
    """Where images come from: every `repository` string, and every `image` string that is a
    whole reference (not a name beside a `repository`)."""
    for path, node in ctx.mappings(data, base):
        repository = node.get("repository")
        if isinstance(repository, str) and repository:
            yield path + ("repository",), repository
        image = node.get("image")
        if isinstance(image, str) and image and not isinstance(repository, str):
            yield path + ("image",), image


def _through(reference: str, mirror: str | None) -> bool:
    if not mirror:
        return False
    mirror = mirror.rstrip("/")
    return reference == mirror or reference.startswith(mirror + "/")


def _image_sources(ctx: Context) -> Iterator[tuple[Output, Path, str]]:
    for out in ctx.objects:
        for path, ref in _image_locations(ctx, out.data):
            yield out, path, ref
    for out in ctx.releases:
        for path, ref in _image_locations(ctx, out.data.get("values") or {}, ("values",)):
            yield out, path, ref


def air_gap(ctx: Context) -> Iterator[Finding]:
    sov = ctx.cluster.sovereignty
    if not sov.air_gapped:
        return
    for out, path, ref in _image_sources(ctx):
        if not _through(ref, sov.registry_mirror):
            yield ctx.finding(out, "AF436", f"image '{ref}' is not pulled through the registry "
                              f"mirror {sov.registry_mirror!r}; the cluster is air-gapped, so "
                              "the pull would fail (or leave the site)", path,
                              "route it through spec.sovereignty.registryMirror "
                              "(aifab.expand.common.image_registry)")
    for out in ctx.releases:
        repository = str(out.data.get("repository", ""))
        if not _through(repository, sov.chart_mirror):
            yield ctx.finding(out, "AF437", f"chart '{out.data.get('chart')}' comes from "
                              f"'{repository}', not from the chart mirror {sov.chart_mirror!r}; "
                              "the cluster is air-gapped", ("repository",),
                              "route it through spec.sovereignty.chartMirror "
                              "(aifab.expand.common.chart_repository)")


# -- 5. pinned images and charts ------------------------------------------------------------------

def split_reference(reference: str) -> tuple[str, str | None, str | None]:
    """`host:5000/ns/name:tag@sha256:...` -> (name part, tag or None, digest or None)."""
    name, _, digest = reference.partition("@")
    head, slash, last = name.rpartition("/")
    last, colon, tag = last.partition(":")
    return head + slash + last, (tag if colon else None), (digest or None)


def pins(ctx: Context) -> Iterator[Finding]:
    hint = ("pin a released version (a tag such as v1.2.3, or a digest @sha256:...); moving "
            f"tags ({', '.join(sorted(MOVING_TAGS))}) change what runs without a diff")
    for out in ctx.objects:
        yield from _pins(ctx, out, out.data, (), hint, chart_defaults=False)
    for out in ctx.releases:
        version = out.data.get("version")
        if not isinstance(version, str) or not version or version in MOVING_TAGS:
            yield ctx.finding(out, "AF438", f"chart '{out.data.get('chart')}' has no pinned "
                              f"version ({version!r})", ("version",), hint)
        yield from _pins(ctx, out, out.data.get("values") or {}, ("values",), hint,
                         chart_defaults=True)


def _pins(ctx: Context, out: Output, data: Any, base: Path, hint: str, *,
          chart_defaults: bool) -> Iterator[Finding]:
    """Image references in `data`. With `chart_defaults` (Helm values), a repository without a
    tag keeps the chart's own tag, which the pinned chart version fixes."""
    for path, node in ctx.mappings(data, base):
        image, repository = node.get("image"), node.get("repository")
        tag_key = next((k for k in ("version", "tag") if k in node), None)
        tag = node.get(tag_key) if tag_key else None
        if isinstance(image, str) and image and not isinstance(repository, str):
            _, ref_tag, digest = split_reference(image)
            if digest is None and (ref_tag is None or ref_tag in MOVING_TAGS):
                what = "has no tag (it means latest)" if ref_tag is None else f"uses '{ref_tag}'"
                yield ctx.finding(out, "AF438", f"image '{image}' {what}", path + ("image",), hint)
        elif isinstance(repository, str) and (isinstance(image, str) or tag_key):
            if tag_key is None:
                if not chart_defaults:
                    yield ctx.finding(out, "AF438", f"image '{repository}/{image}' has no "
                                      "version", path, hint)
            elif not isinstance(tag, str) or not tag or tag in MOVING_TAGS:
                yield ctx.finding(out, "AF438", f"image '{repository}' has {tag_key} "
                                  f"{tag!r}", path + (tag_key,), hint)


# -- 6. no Secrets, no credentials ----------------------------------------------------------------

def _normal_key(key: str) -> str:
    return re.sub(r"[-_.]", "", key.rpartition("/")[2]).lower()


@functools.lru_cache(maxsize=4096)  # keys repeat in every node and object
def credential_key(key: str) -> str:
    """What a key holds: '' when it names no credential; 'literal' when it holds one (apiKey,
    db_password); else the kind of reference to one ('name', 'path', 'url', 'word': secretName,
    tokenPath, passwordRef)."""
    normal = _normal_key(key)
    if not any(word in normal for word in SECRET_KEY_WORDS):
        return ""
    return next((kind for suffix, kind in SECRET_KEY_REFERENCES.items()
                 if normal.endswith(suffix)), "literal")


def secret_key(key: str) -> bool:
    """True when `key` names a credential (apiKey, db_password) rather than a reference to one
    (provisioner-secret-name, secretName, tokenPath)."""
    return credential_key(key) == "literal"


def literal_under(kind: str, value: str) -> str:
    """Why `value` under a key of `kind` (credential_key) is a credential, or ''."""
    if not kind or not value:
        return ""
    if kind == "literal":
        return "holds a literal value"
    shape, what = REFERENCE_SHAPES[kind]
    return "" if shape.fullmatch(value) else f"should hold {what}, but holds something else"


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


@functools.lru_cache(maxsize=65536)  # so do values (label values, names)
def secret_value(text: str) -> str:
    """What credential `text` contains ('' when none): known formats, a `key=value` pair whose
    key names a credential, then long high-entropy base64-like runs with upper-case letters,
    lower-case letters and digits."""
    for what, anchors, pattern, accept in SECRET_VALUES:
        if any(anchor in text for anchor in anchors):
            if any(accept is None or accept(m) for m in pattern.finditer(text)):
                return what
    if what := _text_pair(text):
        return what
    if len(text) < HIGH_ENTROPY_MIN:
        return ""
    for token in HIGH_ENTROPY_TOKEN.findall(text):
        if (re.search(r"[A-Z]", token) and re.search(r"[a-z]", token)
                and re.search(r"[0-9]", token) and _entropy(token) >= HIGH_ENTROPY_BITS):
            return "a long high-entropy string (a key or token?)"
    return ""


def _text_pair(text: str) -> str:
    """A credential written as `key=value` or `key: value` inside text, described; or ''."""
    if ("=" not in text and ":" not in text) or not _may_hold_pair(text):
        return ""
    for m in TEXT_PAIRS.finditer(text):
        key, value = m[1], m[2]
        kind = credential_key(key)
        if not kind or not value or _placeholder(value):
            continue
        if kind == "literal" and value.startswith("/"):
            continue  # a file holding it (mount.cifs `credentials=/etc/...`), not the credential
        if literal_under(kind, value):
            return f"a credential written as '{key}' followed by a value"
    return ""


def secrets(ctx: Context) -> Iterator[Finding]:
    hint = ("credentials never belong in generated/ (it is committed and reviewed): keep them "
            "in the site's secret store and reference them by name (a Secret created out of "
            "band, External Secrets, CSI secrets store)")
    for out in ctx.of_kind("Secret"):
        yield ctx.finding(out, "AF439", f"Secret '{_name(out.data)}' would be committed to "
                          "the repository in clear text (base64 is not encryption)", ("kind",),
                          hint)
    for out in ctx.outputs:
        if not ctx.may_hold_secret(out):
            continue  # the common case
        for path, text in _strings(out.data):
            key = path[-1] if path else ""
            kind = credential_key(key) if isinstance(key, str) else ""
            if why := literal_under(kind, text):
                yield ctx.finding(out, "AF440", f"'{key}' {why}: it looks like a credential",
                                  path, hint)
            elif what := secret_value(text):
                yield ctx.finding(out, "AF440", f"this value looks like {what}", path, hint)


def _may_hold_secret(data: Any) -> bool:
    """Whether any string of `data` may be a finding, without a path or a check per string:
    outputs hold hundreds of thousands of strings (node names, labels), nearly all clean, so
    the keys are checked once each and the values together, with one search for anything a
    credential format contains. The findings and their paths are found afterwards."""
    keys: set[Any] = set()
    texts: list[str] = []
    _gather(data, keys, texts)
    if any(type(key) is str and credential_key(key) for key in keys):
        return True
    joined = "\n".join(texts)
    long_texts = [text for text in texts if len(text) >= HIGH_ENTROPY_MIN]
    return bool(SECRET_ANCHORS.search(joined)
                or (_may_hold_pair(joined)
                    and any(credential_key(key) for key in set(TEXT_PAIR_KEYS.findall(joined))))
                or HIGH_ENTROPY_TOKEN.search("\n".join(long_texts)))


def _gather(node: Any, keys: set[Any], texts: list[str]) -> None:
    """Every string inside `node` into `texts`; the keys of the non-empty ones into `keys`."""
    if type(node) is str:
        texts.append(node)
    elif _is_mapping(node):
        for key, value in node.items():
            if type(value) is str:
                texts.append(value)
                if value:
                    keys.add(key)
            else:
                _gather(value, keys, texts)
    elif type(node) in (list, tuple):
        strings = [item for item in node if type(item) is str]  # node names: 20,000 at once
        texts += strings
        if len(strings) < len(node):
            for item in node:
                if type(item) is not str:
                    _gather(item, keys, texts)


# -- 7. tenant RBAC -------------------------------------------------------------------------------

def _group_owners(ctx: Context) -> dict[str, frozenset[str]]:
    """Identity-provider group -> the tenant namespaces whose `groups` list it. `system:`
    groups are left out: who is in them is Kubernetes' business, not the blueprint's."""
    owners: dict[str, set[str]] = {}
    for tenant in ctx.cluster.tenants:
        for group in tenant.groups:
            if not is_rbac_system_name(group):
                owners.setdefault(group, set()).add(tenant_namespace(tenant.name))
    return {group: frozenset(namespaces) for group, namespaces in owners.items()}


def _subject_tenants(subject: Mapping[str, Any], owners: dict[str, frozenset[str]],
                     tenants: set[str]) -> frozenset[str]:
    """The tenant namespaces a subject's members belong to; EVERYONE for groups every tenant
    is in. Independent of the order of the tenants."""
    kind, name = subject.get("kind"), str(subject.get("name", ""))
    if kind == "ServiceAccount":
        namespace = str(subject.get("namespace", ""))
        return frozenset({namespace} & tenants)
    if kind not in ("Group", "User"):
        return frozenset()
    if kind == "Group" and name in EVERYONE_GROUPS:
        return EVERYONE
    if (namespace := service_account_namespace(name)) is not None:
        return frozenset({namespace} & tenants)
    return owners.get(name, frozenset()) if kind == "Group" else frozenset()


def rbac(ctx: Context) -> Iterator[Finding]:
    tenants = set(ctx.tenant_namespaces)
    owners = _group_owners(ctx)
    hint = ("give tenants only the namespaced tenant-admin Role of their own namespace, with "
            "explicit apiGroups, resources and verbs, bound to their identity-provider groups")
    for out in ctx.of_kind("Role"):
        if _namespace(out.data) in tenants:
            yield from _role_rules(ctx, out, hint)
    for out in ctx.of_kind("ClusterRole"):
        labels = (out.data.get("metadata") or {}).get("labels") or {}
        for label in sorted(k for k in labels if k.startswith(AGGREGATE_LABEL)):
            if str(labels[label]).lower() == "true":
                yield ctx.finding(out, "AF442", f"ClusterRole '{_name(out.data)}' aggregates "
                                  f"into the built-in '{label.removeprefix(AGGREGATE_LABEL)}' "
                                  "role, so everyone bound to that role (tenants too) gets its "
                                  "rules", ("metadata", "labels", label), hint)
    for out in ctx.of_kind("ClusterRoleBinding") + ctx.of_kind("RoleBinding"):
        for i, subject in enumerate(out.data.get("subjects") or []):
            if isinstance(subject, Mapping):
                problem = _binding_problem(out.data, subject, owners, tenants)
                if problem:
                    yield ctx.finding(out, "AF442", f"{_what(out.data)} {problem}",
                                      ("subjects", i), hint)


def _binding_problem(binding: Mapping[str, Any], subject: Mapping[str, Any],
                     owners: dict[str, frozenset[str]], tenants: set[str]) -> str:
    """What is wrong with one subject of a (Cluster)RoleBinding, or ''."""
    members = _subject_tenants(subject, owners, tenants)
    name = str(subject.get("name", ""))
    who = f"{subject.get('kind')} '{name}'"
    if len(members) == 1 and members != EVERYONE:
        who += f" (tenant namespace '{next(iter(members))}')"
    role = binding.get("roleRef") or {}
    if binding.get("kind") == "ClusterRoleBinding":
        return (f"grants {who} the ClusterRole '{role.get('name')}' in every namespace"
                if members else "")
    namespace = _namespace(binding)
    if namespace in tenants and subject.get("kind") == "Group" and is_rbac_system_name(name):
        return (f"binds {who}, a group of Kubernetes' own (its members are pods, other "
                f"tenants or everyone, not the tenant's people), in tenant namespace "
                f"'{namespace}'")
    if members and namespace not in members:
        return f"grants {who} rights in namespace '{namespace}'"
    if namespace in tenants and role.get("kind") == "ClusterRole":
        return (f"binds {who} to the ClusterRole '{role.get('name')}', whose rules are not "
                "aifab's (cluster-admin, admin and edit include Secrets and wildcards)")
    return ""


def _role_rules(ctx: Context, out: Output, hint: str) -> Iterator[Finding]:
    for i, rule in enumerate(out.data.get("rules") or []):
        if not isinstance(rule, Mapping):
            continue
        for field in ("apiGroups", "resources", "verbs"):
            for j, item in enumerate(rule.get(field) or []):
                if "*" in str(item):
                    yield ctx.finding(out, "AF441", f"{_what(out.data)} grants '{item}' in "
                                      f"{field}: a wildcard also grants whatever is added to the "
                                      "cluster later (Secrets, new CRDs)", ("rules", i, field, j),
                                      hint)
                elif field == "verbs" and item in ESCALATION_VERBS:
                    yield ctx.finding(out, "AF441", f"{_what(out.data)} grants the verb '{item}',"
                                      " which lets the tenant raise its own rights",
                                      ("rules", i, field, j), hint)


# -- 8. GPU quota per tenant namespace ------------------------------------------------------------

def advertised_gpu_resources(cluster: Cluster) -> list[str]:
    """Every GPU extended resource the cluster's nodes may advertise: what each pool advertises
    (aifab.expand.common.gpu_resources, which also sizes the quotas), and nvidia.com/gpu always
    (a cap of "0" costs nothing, and a pool re-partitioned later would advertise it)."""
    strategy = cluster.mig_strategy
    names = {GPU_RESOURCE}
    for pool in cluster.node_pools:
        names |= set(gpu_resources(pool, strategy))
    return sorted(names)


def gpu_quota(ctx: Context) -> Iterator[Finding]:
    quotas = ctx.of_kind("ResourceQuota")
    advertised = [f"requests.{name}" for name in advertised_gpu_resources(ctx.cluster)]
    for namespace in ctx.tenant_namespaces:
        mine = [out for out in quotas if _namespace(out.data) == namespace]
        hard = {key: out for out in mine
                for key in ((out.data.get("spec") or {}).get("hard") or {})}
        gpu = [key for key in hard if key == f"requests.{GPU_RESOURCE}"
               or key.startswith(MIG_QUOTA_PREFIX)]
        if not gpu:
            yield ctx.finding(ctx.namespace_output(namespace), "AF443",
                              f"tenant namespace '{namespace}' has no GPU ResourceQuota: pods "
                              "that bypass Kueue may take every GPU of the cluster",
                              ("metadata", "name"),
                              f"add a ResourceQuota with spec.hard requests.{GPU_RESOURCE} (and "
                              "requests.nvidia.com/mig-<profile> on MIG pools), \"0\" where the "
                              "tenant has no quota")
            continue
        quota = hard[gpu[0]]
        missing = [name for name in advertised if name not in hard]
        if missing:
            yield ctx.finding(quota, "AF444", f"the GPU quota of tenant namespace '{namespace}' "
                              f"does not cap {', '.join(missing)}, which the cluster's nodes "
                              "advertise: pods that bypass Kueue may take all of them",
                              ("spec", "hard"),
                              "cap every GPU resource of the cluster in spec.hard, with \"0\" "
                              "for those the tenant has no quota on")


# -- all of them ----------------------------------------------------------------------------------

POLICIES: tuple[Callable[[Context], Iterator[Finding]], ...] = (
    privileged_pods, pod_security, network_policies, air_gap, pins, secrets, rbac, gpu_quota,
)


def check(outputs: Sequence[Output], cluster: Cluster, folder: str,
          rendered: Mapping[str, bytes] | None = None,
          memo: Memo | None = None) -> Iterator[Finding]:
    """Every policy over all outputs of one cluster; findings name `folder/<output path>`.
    With a `memo` (aifab.watch) and the `rendered` files, a file seen byte for byte in the
    previous run is not scanned for credentials again."""
    ctx = Context(tuple(outputs), cluster, folder, rendered, memo)
    for policy in POLICIES:
        yield from policy(ctx)
