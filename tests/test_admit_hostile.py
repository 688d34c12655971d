"""`aifab admit` on hostile files: every file of the hostile corpus, and objects built to make
a judge work hard or trip over a type, gets an answer (a verdict or a finding), never a
traceback, in bounded time."""

from __future__ import annotations

from pathlib import Path

import pytest

from aifab.admit import admit
from aifab.admit.cluster import ClusterView, from_tree
from aifab.admit.report import as_json, text
from tests.bundled import ROOT

HOSTILE = sorted((ROOT / "tests" / "hostile").glob("*.yaml"))


@pytest.fixture(scope="module")
def cluster() -> ClusterView:
    return from_tree(ROOT / "generated", "gwangju-gb200")


CRAFTED = {
    "binary.yaml": b"\x00\x01\x02\xff",
    "not-utf8.yaml": b"kind: \xe9t\xe9\n",
    "bad-yaml.yaml": b"apiVersion: v1\nkind: [Pod\n",
    "anchors-bomb.yaml": b"a: &a [1,1,1,1,1,1,1,1,1]\n"
                         + b"".join(b"%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n"
                                    % ((98 + i, 98 + i) + (97 + i,) * 9) for i in range(9)),
    "huge.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n"
                 + b"".join(b"  k%d: v\n" % i for i in range(300_000)),
    "scalars.yaml": b"--- 1\n--- just text\n--- [1, 2]\n--- null\n",
    "odd-types.yaml": b"apiVersion: batch/v1\nkind: Job\nmetadata: {name: j, namespace: 3}\n"
                      b"spec: {parallelism: -5, template: 7}\n---\n"
                      b"apiVersion: jobset.x-k8s.io/v1alpha2\nkind: JobSet\n"
                      b"metadata: {name: s, namespace: foundation-models, labels: "
                      b"{kueue.x-k8s.io/queue-name: default}}\n"
                      b"spec: {replicatedJobs: [{name: a, replicas: 9007199254740991, template: "
                      b"{spec: {parallelism: 9007199254740991, template: {spec: {containers: "
                      b"[{name: c, image: x, resources: {limits: {nvidia.com/gpu: 1e300}}}]}}}}}]}\n"
                      b"---\napiVersion: ../../../etc\nkind: ../passwd\nmetadata: {name: x}\n",
}


@pytest.mark.parametrize("path", HOSTILE, ids=[p.name for p in HOSTILE])
def test_hostile_corpus_gets_an_answer(path: Path, cluster: ClusterView) -> None:
    report = admit([str(path)], cluster)
    text(report), as_json(report)
    assert report.problems or report.verdicts


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_files_get_an_answer(name: str, tmp_path: Path, cluster: ClusterView) -> None:
    path = tmp_path / name
    path.write_bytes(CRAFTED[name])
    report = admit([str(path)], cluster)
    text(report), as_json(report)
    assert report.problems or all(not v.admitted for v in report.verdicts)


def test_control_characters_are_escaped(tmp_path: Path, cluster: ClusterView) -> None:
    path = tmp_path / "esc.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: \"a\\e[2Jb\"\n",
                    encoding="utf-8")
    shown = text(admit([str(path)], cluster))
    assert "\x1b" not in shown and "\\x1b" in shown


def test_a_named_pipe_is_refused_not_read(tmp_path: Path, cluster: ClusterView) -> None:
    """Opening a pipe to read it would wait for a writer forever."""
    import os

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    report = admit([str(fifo)], cluster)
    assert [(p.code, "not a regular file" in p.message) for p in report.problems] == [
        ("AF700", True)]


def test_a_run_judges_a_bounded_number_of_objects(tmp_path: Path,
                                                  cluster: ClusterView) -> None:
    from aifab.admit import MAX_OBJECTS

    pod = (b"apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\n"
           b"spec: {containers: [{name: c, image: x}]}\n")
    path = tmp_path / "many.yaml"
    path.write_bytes(b"---\n".join([pod] * (MAX_OBJECTS + 1)))
    report = admit([str(path)], cluster)
    assert not report.verdicts
    assert [p.code for p in report.problems] == ["AF700"]
    assert f"admit judges at most {MAX_OBJECTS:,}" in report.problems[0].message


def test_copies_of_a_pod_are_judged_by_the_policies_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file of 500 copies (names aside) costs about one evaluation of the policies."""
    from aifab.admit import policies

    calls = []
    original = policies.refusals

    def counted(*args: object) -> object:
        calls.append(1)
        return original(*args)

    pods = [b"apiVersion: v1\nkind: Pod\nmetadata: {name: p%d, namespace: default}\n"
            b"spec: {containers: [{name: c, image: x}]}\n" % i for i in range(500)]
    path = tmp_path / "copies.yaml"
    path.write_bytes(b"---\n".join(pods))
    monkeypatch.setattr(policies, "refusals", counted)
    report = admit([str(path)], from_tree(ROOT / "generated", "gwangju-gb200"))  # a fresh memo
    assert len(report.verdicts) == 500 and len(calls) == 1
    assert all(not v.admitted for v in report.verdicts)  # image x is outside the mirror
