"""`aifab init DIR`: a blueprint repository of the user's own, green in CI from the first commit.

The files are package data (aifab/data/init/), copied as they are, and this aifab's published
schema, which the example blueprint's modeline names. The only input is DIR; its name becomes
the Pulumi project's name as YAML data (yaml.safe_dump), never spliced into text. Everything is
written to a hidden folder beside DIR and renamed to DIR in one step; into an existing empty
DIR (perhaps the shell's working folder, which must stay that folder) it is staged inside and
moved out entry by entry, taken back on a failure: a refused or failed run leaves nothing.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from dataclasses import replace
from importlib import resources
from pathlib import Path

import yaml

from aifab.diagnostics import Finding, finding

CODES = {
    "AF012": "aifab init: the folder is not empty, or is not a folder",
    "AF013": "aifab init: the files cannot be written",
}

TEMPLATES = {  # target in DIR -> file in aifab/data/init/
    "blueprints/lab-b200.yaml": "blueprint.yaml",
    "stacks/__main__.py": "program.py.txt",
    ".pre-commit-config.yaml": "pre-commit-config.yaml",
    ".github/workflows/aifab.yml": "workflow.yml",
    ".gitignore": "gitignore",
    "README.md": "README.md",
}
SCHEMA = "schemas/blueprint.schema.json"  # the example's modeline: ../schemas/...
DEFAULT_PROJECT = "gpu-clusters"


def files(project: str) -> dict[str, bytes]:
    """Every file of a new repository, by its path in it."""
    from aifab.schema import document, text

    data = resources.files("aifab") / "data" / "init"
    out = {target: (data / source).read_bytes() for target, source in TEMPLATES.items()}
    out[SCHEMA] = text(document()).encode()
    out["Pulumi.yaml"] = yaml.safe_dump(pulumi_project(project), sort_keys=False).encode()
    return dict(sorted(out.items()))


def pulumi_project(name: str) -> dict:
    """Pulumi.yaml: the program is aifab's (stacks/__main__.py), one stack file per cluster."""
    return {
        "name": name,
        "description": "Deploys the reviewed manifests aifab generated into generated/<cluster>/, "
                       "one stack per cluster.",
        "runtime": {"name": "python", "options": {"virtualenv": ".venv"}},
        "main": "stacks/",
        "stackConfigDir": "stacks",
    }


def project_name(folder: Path) -> str:
    """A Pulumi project name from the folder's name: alphanumerics, '-', '_' and '.', at most
    100 characters (Pulumi's rule for `name`), else DEFAULT_PROJECT."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", folder.name).strip("-.")[:100]
    return name or DEFAULT_PROJECT


def init(folder: Path) -> tuple[list[str], list[Finding]]:
    """Create the repository in `folder` (absent or empty): the paths written, or findings."""
    target = folder.resolve()
    try:
        refused = _refusal(target, folder)
    except OSError as e:
        refused = f"cannot read {folder}: {e.strerror or e}"
    if refused:
        return [], [_at(folder, finding(
            "AF012", refused, hint="aifab init writes only into a new or empty folder: give "
            "another path, e.g. `aifab init my-clusters`"))]
    written = files(project_name(target))
    existing = target.is_dir()  # empty: the files are staged inside it, and the folder kept
    new_parents = [p for p in target.parents if not p.exists()]  # deepest first
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".aifab-init",
                                        dir=target if existing else target.parent))
        try:
            for path, content in written.items():
                (staging / path).parent.mkdir(parents=True, exist_ok=True)
                (staging / path).write_bytes(content)
            if existing:  # it may be the shell's working folder: keep it
                _move_into(staging, target)
            else:
                staging.chmod(0o777 & ~_umask())
                os.rename(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as e:
        for parent in new_parents:  # nothing left behind: the folders made for it too
            try:
                parent.rmdir()
            except OSError:
                break
        return [], [_at(folder, finding(
            "AF013", f"cannot write {folder}: {e.strerror or e}",
            hint="nothing was written; free space, fix the permissions, or give an empty "
                 "folder and run again"))]
    return list(written), []


def _move_into(staging: Path, target: Path) -> None:
    """Move what `staging` holds into the empty folder `target`; on a failure, take back what
    was moved, so the folder is empty again."""
    moved: list[Path] = []
    try:
        for entry in sorted(staging.iterdir()):
            if os.path.lexists(target / entry.name):
                raise FileExistsError(errno.EEXIST, "it is not empty any more",
                                      str(target / entry.name))
            os.rename(entry, target / entry.name)
            moved.append(target / entry.name)
    except OSError:
        for path in moved:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        raise


def _refusal(target: Path, given: Path) -> str:
    """Why `target` (the folder `given`, resolved) cannot take a new repository, or ''."""
    if given.is_symlink() or (target.exists() and not target.is_dir()):
        return f"{given} exists and is not a folder"
    if target.is_dir() and any(target.iterdir()):
        return f"{given} is not empty: aifab init never overwrites files or mixes in its own"
    return ""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _at(folder: Path, f: Finding) -> Finding:
    return replace(f, file=str(folder), line=1, col=1)
