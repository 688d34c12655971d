"""The `aifab` command as users and CI run it: exit codes, formats, no tracebacks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aifab.cli import main
from aifab.reporters import _escape_data, _escape_property

ROOT = Path(__file__).resolve().parents[1]
BLUEPRINTS = ROOT / "blueprints"
REFERENCE = BLUEPRINTS / "gwangju-gb200.yaml"


def aifab(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a child process, as CI does."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "aifab", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def broken(tmp_path: Path, old: str, new: str, name: str = "bp.yaml") -> Path:
    text = REFERENCE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_bundled_blueprints_are_valid():
    proc = aifab("validate", "blueprints/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the only warnings: the reference (as ../shared/design has it) is air-gapped without
    # package repositories (AF382); partial DGX B200 SUs (31 of 32 nodes in the reference,
    # kr-daejeon-b200 of the fleet; issue 16); Lustre over InfiniBand beside the DOCA-OFED
    # driver container (AF389)
    count = len(list(BLUEPRINTS.glob("*.yaml")))
    warnings = sorted(line.split(" warning ")[1][:5] for line in proc.stdout.splitlines()
                      if ": warning " in line)
    assert proc.stdout.strip().endswith(f"0 errors, {len(warnings)} warnings in {count} "
                                        "blueprints")
    assert set(warnings) == {"AF334", "AF382", "AF389"} and warnings.count("AF382") == 1
    assert "blueprints/gwangju-gb200.yaml:20:16: warning AF382 " in proc.stdout


def test_default_path_is_blueprints_folder():
    assert main(["validate"]) == 0


def test_error_exit_1_with_file_line_code_and_caret(tmp_path):
    path = broken(tmp_path, "country: KR", "country: Korea")
    proc = aifab("validate", str(path))
    assert proc.returncode == 1
    assert f"{path}:15:14: error AF205" in proc.stdout
    assert "  at spec.site.country" in proc.stdout
    assert "   15 |     country: Korea" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("args", [["validate", "--no-such-flag"], ["frobnicate"], []])
def test_usage_errors_exit_2(args):
    proc = aifab(*args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_missing_path_exits_2(tmp_path):
    proc = aifab("validate", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_hostile_file_exits_1_without_traceback(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("a: !!python/object/apply:os.system ['touch pwned']\n", encoding="utf-8")
    proc = aifab("validate", str(path), cwd=tmp_path)
    assert proc.returncode == 1 and "AF110" in proc.stdout
    assert not (tmp_path / "pwned").exists()
    assert "Traceback" not in proc.stderr


def test_findings_of_several_files_are_sorted_by_file_and_line(tmp_path):
    b = broken(tmp_path, "racks: 16", "racks: 0", "b.yaml")
    a = broken(tmp_path, "country: KR", "country: Korea", "a.yaml")
    out = json.loads(aifab("validate", "--format", "json", str(b), str(a)).stdout)
    assert [f["file"] for f in out["findings"]] == [str(a), str(b)]


def test_json_format(tmp_path):
    path = broken(tmp_path, "racks: 16", "racks: 0")
    proc = aifab("validate", "--format", "json", str(path))
    out = json.loads(proc.stdout)
    (f,) = out["findings"]
    assert f == {
        "file": str(path), "line": 45, "column": 14, "severity": "error", "code": "AF206",
        "message": f["message"], "path": "spec.nodePools[0].racks", "hint": "",
    }
    assert out["summary"] == {"files": 1, "errors": 1, "warnings": 0}


def test_github_format_is_a_workflow_command(tmp_path):
    path = broken(tmp_path, "country: KR", "country: Korea")
    first = aifab("validate", "--format", "github", str(path)).stdout.splitlines()[0]
    assert first.startswith(f"::error file={str(path).replace(':', '%3A')},line=15,col=14,title=AF205::")


def test_github_escaping():
    assert _escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert _escape_property("a:b,c%") == "a%3Ab%2Cc%25"


def test_strict_turns_warnings_into_errors(tmp_path):
    # two storage classes, none default: a warning, an error under --strict
    path = broken(tmp_path, "      default: true\n", "")
    assert main(["validate", str(path)]) == 0
    assert main(["validate", "--strict", str(path)]) == 1


def test_catalog_list_and_show():
    proc = aifab("catalog")
    assert proc.returncode == 0 and "gb200-nvl72" in proc.stdout
    proc = aifab("catalog", "gb300-nvl72")
    assert proc.returncode == 0 and "D4" in proc.stdout


def test_catalog_unknown_system_suggests():
    proc = aifab("catalog", "gb300-nvl27")
    assert proc.returncode == 2 and "did you mean 'gb300-nvl72'?" in proc.stderr


def test_validate_does_not_import_heavy_libraries():
    code = ("import sys; from aifab.cli import main; main(['validate', 'blueprints']); "
            "print(sorted(m for m in ('pulumi', 'kubernetes', 'jinja2', 'rich') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_the_format_choices_are_the_reporters():
    from aifab import cli, reporters

    assert cli.FINDING_FORMATS == tuple(reporters.FORMATS)


@pytest.mark.parametrize("check", [False, True])
def test_generate_in_json_keeps_standard_output_for_the_document(tmp_path, check):
    """A tool reading `aifab generate --format json` gets one document, also with no
    findings; the written, unchanged and current lines go to standard error."""
    out = tmp_path / "out"
    args = ["generate", "--format", "json", "--out", str(out), str(REFERENCE)]
    if check:
        assert aifab(*args).returncode == 0
    proc = aifab(*args, *(["--check"] if check else []))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["summary"]["errors"] == 0
    assert re.search(rf"gwangju-gb200/: {'current' if check else '[0-9]+ files written'}\n",
                     proc.stderr)


def test_the_command_respects_a_ctrl_c_ignored_before_it_started(monkeypatch):
    """A background job of a script starts with SIGINT ignored: aifab keeps it ignored (and
    SIGTERM likewise)."""
    import signal

    from aifab import cli

    mine = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(cli, "main", lambda: 0)
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        assert cli.program() == 0 and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        assert cli.program() == 0 and signal.getsignal(signal.SIGINT) is cli._interrupt_once
        assert signal.getsignal(signal.SIGTERM) is cli._terminate_once
    finally:  # a handler left behind would be inherited, as SIG_IGN, by later tests' children
        signal.signal(signal.SIGINT, mine[0])
        signal.signal(signal.SIGTERM, mine[1])
