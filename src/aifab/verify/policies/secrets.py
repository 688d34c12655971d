"""No Secrets and no credentials in the generated files.

Why: generated/ is committed, reviewed in pull requests, copied to CI logs and forks; anything
in it is readable by everyone with access, forever (git history keeps it after a fix). A Secret
object there is a secret in clear text (base64 is an encoding), and a token pasted into a
blueprint field (a storage parameter, a mount option, a label, a description) lands there too.

Fix: remove the value from the blueprint, create the Secret out of band (the storage vendor's
chart, External Secrets, the CSI secrets store) and refer to it by name, as the storage
backends do with csi.storage.k8s.io/*-secret-name; rotate the credential.
"""

from __future__ import annotations

from collections.abc import Iterator

from aifab.diagnostics import Finding
from aifab.expand.common import Output
from aifab.verify.policies import _credentials
from aifab.verify.policies._context import Context, name_of, strings

CODES = {
    "AF439": "Secret object in the generated output",
    "AF440": "value that looks like a credential in the generated output",
}


def check(ctx: Context) -> Iterator[Finding]:
    hint = ("credentials never belong in generated/ (it is committed and reviewed): keep them "
            "in the site's secret store and reference them by name (a Secret created out of "
            "band, External Secrets, CSI secrets store)")
    for out in ctx.of_kind("Secret"):
        yield ctx.finding(out, "AF439", f"Secret '{name_of(out.data)}' would be committed to "
                          "the repository in clear text (base64 is not encryption)", ("kind",),
                          hint)
    for out in ctx.outputs:
        if not _may_hold_secret(ctx, out):
            continue  # the common case
        for path, text in strings(out.data):
            key = _key(path)
            kind = _credentials.credential_key(key)
            if why := _credentials.literal_under(kind, text):
                yield ctx.finding(out, "AF440", f"'{key}' {why}: it looks like a credential",
                                  path, hint)
            elif what := _credentials.secret_value(text):
                yield ctx.finding(out, "AF440", f"this value looks like {what}", path, hint)


def _key(path: tuple) -> str:
    """The key a string sits under: its own, or its list's (`passwords: [...]`)."""
    return next((part for part in reversed(path) if isinstance(part, str)), "")


def _may_hold_secret(ctx: Context, out: Output) -> bool:
    """_credentials.may_hold_secret, from the memo for a file seen byte for byte in the
    previous run (aifab.memo)."""
    if ctx.memo is None or ctx.rendered is None:
        return _credentials.may_hold_secret(out.data)
    return ctx.memo.get(("may hold a secret", ctx.rendered[out.path]),
                        lambda: _credentials.may_hold_secret(out.data))
