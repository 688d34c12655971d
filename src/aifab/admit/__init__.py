"""`aifab admit`: would the cluster aifab generates accept and run these objects?

Each object of the files is put to a sequence of judges, one module each, in the order an
API server and its controllers would meet it: schema.py (the API server's validation: strict
schemas, CRDs, CEL), namespace.py (the namespace, Pod Security), quota.py (ResourceQuota),
kueue.py (LocalQueue, ClusterQueue coverage and quota, DRA device classes) and placement.py
(a node with the labels, tolerations and GPUs the pods need). An object that is not valid
for the API server meets no further judge (they trust its types). The cluster is the one
aifab generates (cluster.py): the reviewed tree, or a blueprint expanded in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from aifab.admit import kueue, namespace, placement, policies, quota, schema
from aifab.admit.cluster import ClusterView
from aifab.admit.objects import Submitted, read
from aifab.diagnostics import Finding, Severity, sorted_unique

CODES = {
    "AF700": "admit cannot judge: a file (unreadable, no object), the tree or the blueprint",
    "AF701": "object not valid for the Kubernetes schema of the cluster's version",
    "AF702": "custom resource not valid for its CRD",
    "AF703": "no chart the cluster installs serves this kind (or this apiVersion of it)",
    "AF704": "custom resource breaks a CEL rule of its CRD",
    "AF705": "a CEL rule of the CRD could not be evaluated (warning)",
    "AF706": "not a Kubernetes object (apiVersion, kind, metadata.name)",
    "AF710": "the namespace does not exist in the cluster",
    "AF711": "Pod Security refuses the pods at the namespace's enforced level",
    "AF712": "a ValidatingAdmissionPolicy of the cluster refuses the object or its pods",
    "AF720": "the kueue.x-k8s.io/queue-name LocalQueue does not exist",
    "AF721": "the ClusterQueue does not cover a requested resource",
    "AF722": "more than the ClusterQueue can ever admit (nominal quota plus cohort)",
    "AF723": "a DeviceClass not mapped in Kueue's deviceClassMappings",
    "AF724": "more than the namespace's ResourceQuota allows",
    "AF725": "the ResourceClaimTemplate the pods claim from does not exist",
    "AF730": "no node matches the pods' selector, affinity and tolerations",
    "AF731": "more GPUs or MIG slices per pod than a node it may run on has",
}

MAX_OBJECTS = 1_000  # objects in one run: a workload is a few; admission policies take ~50 ms each

Judge = Callable[[Submitted, ClusterView, Sequence[Submitted]], Iterable[Finding]]
# After schema.judge, in the order the API server and then Kueue and the scheduler meet an object.
JUDGES: tuple[Judge, ...] = (namespace.judge, policies.judge, quota.judge, kueue.judge,
                             placement.judge)


@dataclass(frozen=True)
class Verdict:
    """One object's answer: refused when any reason is an error."""

    obj: Submitted
    reasons: tuple[Finding, ...]

    @property
    def admitted(self) -> bool:
        return not any(r.is_error for r in self.reasons)


@dataclass(frozen=True)
class Report:
    cluster: str
    verdicts: tuple[Verdict, ...]
    problems: tuple[Finding, ...]  # files that could not be judged (exit 2)


def admit(paths: Sequence[str], cluster: ClusterView) -> Report:
    """The verdict on every object of the files, and the files that could not be read."""
    batch: list[Submitted] = []
    problems: list[Finding] = []
    for path in paths:
        found, unreadable = read(path)
        batch += found
        problems += unreadable
    if len(batch) > MAX_OBJECTS:  # bounded work for files from a pull request
        problems.append(Finding(
            batch[MAX_OBJECTS].file, batch[MAX_OBJECTS].line, 1, "AF700", Severity.ERROR,
            f"{len(batch):,} objects in the files given; admit judges at most "
            f"{MAX_OBJECTS:,} in one run", (), "split the files over several runs"))
        batch = []
    verdicts = tuple(Verdict(obj, tuple(sorted_unique(obj.place(f) for f in _judged(obj,
                     cluster, batch)))) for obj in batch)
    return Report(cluster.name, verdicts, tuple(problems))


def _judged(obj: Submitted, cluster: ClusterView, batch: Sequence[Submitted]
            ) -> Iterator[Finding]:
    shape = list(schema.shape(obj))
    if shape:
        yield from shape
        return
    valid = list(schema.judge(obj, cluster))
    yield from valid
    if any(f.is_error for f in valid):
        return
    for judge in JUDGES:
        yield from judge(obj, cluster, batch)
