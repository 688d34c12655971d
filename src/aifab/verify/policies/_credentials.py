"""Credentials in text: which keys hold one, which values are one, and a fast way to say that
a whole file holds none. Used by the secrets policy; kept apart because it is most of it.

A value is judged by its key (a key naming a credential holds one, unless it refers to one: a
Secret's name, a path, a URL, whose value must then have that shape), by known token formats,
by `key=value` pairs inside text, and by entropy.
"""

from __future__ import annotations

import base64
import functools
import math
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from aifab.verify.policies._context import is_mapping

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
TEXT_PAIR_KEYS = re.compile(r"""(?<![\w.])["']?([A-Za-z][\w.-]*)["']?[ \t]*[=:]""")
TEXT_PAIR_VALUE = re.compile(r"""[ \t]*["']?([^\s,;&"'<>]*)""")  # after its key
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


# GitLab's token prefixes after `gl` (https://docs.gitlab.com/ee/security/tokens/, "Token
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
HIGH_ENTROPY_TOKEN = re.compile(rf"[A-Za-z0-9+/=_-]{{{HIGH_ENTROPY_MIN},}}")
# ... and at least this many bits of Shannon entropy per character (random base64 of 32+
# characters has ~4.5-5; identifiers, paths and hex digests stay below).
HIGH_ENTROPY_BITS = 4.2


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
        if any(anchor in text for anchor in anchors) and any(
                accept is None or accept(m) for m in pattern.finditer(text)):
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
    for m in TEXT_PAIR_KEYS.finditer(text):  # keys only, so a value never hides the next key
        key, kind = m[1], credential_key(m[1])
        value = TEXT_PAIR_VALUE.match(text, m.end())[1] if kind else ""
        if not value or _placeholder(value):
            continue
        if kind == "literal" and value.startswith("/"):
            continue  # a file holding it (mount.cifs `credentials=/etc/...`), not the credential
        if literal_under(kind, value):
            return f"a credential written as '{key}' followed by a value"
    return ""


def may_hold_secret(data: Any) -> bool:
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
    elif is_mapping(node):
        for key, value in node.items():
            if type(value) is str:
                texts.append(value)
                if value:
                    keys.add(key)
            else:
                if _holds_text(value):  # a list of strings is judged by its key too
                    keys.add(key)
                _gather(value, keys, texts)
    elif type(node) in (list, tuple):
        strings = [item for item in node if type(item) is str]  # node names: 20,000 at once
        texts += strings
        if len(strings) < len(node):
            for item in node:
                if type(item) is not str:
                    _gather(item, keys, texts)


def _holds_text(value: Any) -> bool:
    """Whether `value` is a list (of lists) with a non-empty string in it."""
    return type(value) in (list, tuple) and any(
        (type(item) is str and item) or _holds_text(item) for item in value)
