"""Issue 19.8: the files behind --crds and --chart-values get the loader's protections. A FIFO,
a link to /dev/zero, an alias bomb, broken YAML, `spec: null`, Latin-1: each a finding with the
file and line, never a traceback, a hang or a run out of memory."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aifab.expand import expand
from aifab.expand.common import Output
from aifab.pipeline import run
from aifab.verify import Sources, verify
from bundled import BLUEPRINTS, ROOT

CRD_HEAD = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
BOMB = "".join(f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join(
    [f"*{chr(96 + i)}" if i else '"x"'] * 10) + "]\n" for i in range(9))
HOSTILE = {  # file name -> (its bytes, the code, the line)
    "bomb.yaml": (BOMB.encode(), "AF109", 5),  # the 33rd alias
    "broken.yaml": (b"a: 1\nb: [\n", "AF104", 3),
    "null-spec.yaml": (f"---\nkind: ConfigMap\n---\n{CRD_HEAD}spec: null\n".encode(),
                       "AF409", 3),
    "latin1.yaml": (b"kind: Custom\nname: caf\xe9\n", "AF103", 2),
    "deep.yaml": (("[" * 200 + "]" * 200).encode(), "AF114", 1),
    "python-tag.yaml": (b"a: !!python/object/apply:os.system ['true']\n", "AF104", 1),
    "bad-schema.yaml": ((CRD_HEAD + "spec:\n  group: x.io\n  names: {kind: X}\n  versions:\n"
                         "  - name: v1\n    schema:\n      openAPIV3Schema: {type: 5}\n")
                        .encode(), "AF409", 1),
}


def _hostile_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "crds"
    folder.mkdir()
    for name, (data, _, _) in HOSTILE.items():
        (folder / name).write_bytes(data)
    os.mkfifo(folder / "fifo.yaml")
    (folder / "zero.yaml").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "outside-fifo")
    (folder / "fifo-link.yaml").symlink_to(tmp_path / "outside-fifo")
    os.mkfifo(folder / "pipe")
    (folder / "inner-link.yaml").symlink_to(folder / "pipe")
    return folder


@pytest.fixture(scope="module")
def gwangju() -> tuple[str, list[Output]]:
    cluster = run(BLUEPRINTS / "gwangju-gb200.yaml").cluster
    assert cluster is not None
    return cluster.kubernetes.version, list(expand(cluster))


def test_every_hostile_crd_file_is_a_finding_with_its_line(gwangju, tmp_path) -> None:
    version, outputs = gwangju
    folder = _hostile_folder(tmp_path)
    findings, _ = verify(outputs, version, Sources(crds=folder), "out")
    got = {Path(f.file).name: (f.code, f.line) for f in findings}
    assert got == {**{name: (code, line) for name, (_, code, line) in HOSTILE.items()},
                   "fifo.yaml": ("AF101", 1), "zero.yaml": ("AF101", 1),
                   "fifo-link.yaml": ("AF101", 1), "inner-link.yaml": ("AF101", 1)}
    assert "outside the folder" in next(f.message for f in findings
                                        if f.file.endswith("zero.yaml"))
    assert "not a regular file" in next(f.message for f in findings
                                        if f.file.endswith("inner-link.yaml"))


@pytest.mark.parametrize("name", [*HOSTILE, "fifo", "zero"])
def test_a_hostile_chart_values_file_is_a_finding(gwangju, tmp_path, name) -> None:
    """A release of a version aifab ships no data for reads --chart-values; the file is hostile."""
    version, outputs = gwangju
    folder = tmp_path / "values"
    folder.mkdir()
    target = folder / "gpu-operator-v26.3.9.values.yaml"
    if name == "fifo":
        os.mkfifo(target)
    elif name == "zero":
        target.symlink_to("/dev/zero")
    else:
        target.write_bytes(HOSTILE[name][0])
    edited = [o for o in outputs if o.path != "gpu-operator/ocirepository-gpu-operator.yaml"]
    source = next(o for o in outputs if o.path == "gpu-operator/ocirepository-gpu-operator.yaml")
    data = copy.deepcopy(dict(source.data))
    data["spec"]["ref"]["tag"] = "v26.3.9"  # the chart version of the HelmRelease's source
    edited.append(Output(source.path, source.kind, data))
    findings, _ = verify(edited, version, Sources(chart_values=folder), "out")
    codes = [(f.code, f.file) for f in findings]
    expected = {"fifo": "AF101", "zero": "AF101", "null-spec.yaml": "AF409",
                "bad-schema.yaml": None}.get(name, HOSTILE.get(name, (0, None))[1])
    if expected is None:  # a valid mapping: its keys are checked (none of ours is in it)
        assert codes and {c for c, _ in codes} == {"AF404"}
    else:
        assert codes == [(expected, str(target))]


def test_the_command_reports_and_writes_nothing(tmp_path) -> None:
    folder = _hostile_folder(tmp_path)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "aifab", "generate", "--out", str(out), "--crds", str(folder),
         str(BLUEPRINTS / "seoul-rtxpro.yaml")],
        check=False, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "bomb.yaml:5:" in done.stdout + done.stderr
    assert not out.exists()

