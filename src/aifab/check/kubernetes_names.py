"""Names aifab composes from blueprint names (ComputeDomains, namespaces) are valid in Kubernetes.

The schema checks every name as written; composing adds suffixes, so the result is checked
again as a DNS-1123 label (63 characters), the form Kubernetes requires for these objects.
"""

from collections.abc import Iterator

from aifab.diagnostics import Finding, finding, format_path
from aifab.model import Cluster
from aifab.naming import composed_names, dns_label_problem

CODES = {"AF374": "composed object name is not a valid Kubernetes name"}


def check(cluster: Cluster) -> Iterator[Finding]:
    for composed in dict.fromkeys(composed_names(cluster)):
        if problem := dns_label_problem(composed.name):
            yield finding("AF374", f"the {composed.what} name {problem}", composed.path,
                          hint=f"aifab composes it from {format_path(composed.path)}; shorten "
                          "that name or remove the characters Kubernetes does not allow")
