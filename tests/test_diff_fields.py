"""aifab diff's field-level view: which fields of a changed object changed, old -> new."""

from __future__ import annotations

import json
from pathlib import Path

from test_diff import REFERENCE, reference_repo

from aifab.diff import EXIT_OK, run
from aifab.diff.fields import MAX_FIELDS, FieldChange, field_changes

QUOTA = "tenants/public-research/resourcequota-gpu.yaml"


def lines(old: object, new: object) -> list[str]:
    return [change.line() for change in field_changes(old, new)[0]]


def test_changed_added_and_removed_keys():
    old = {"spec": {"replicas": 1, "gone": "x", "hard": {"requests.nvidia.com/gpu": "8"}}}
    new = {"spec": {"replicas": 2, "hard": {"requests.nvidia.com/gpu": "16"}, "new": [1]}}
    assert lines(old, new) == [
        "spec.replicas: 1 -> 2",
        "spec.gone: - \"x\"",
        'spec.hard["requests.nvidia.com/gpu"]: "8" -> "16"',
        "spec.new: + [1]",
    ]


def test_named_list_items_are_paired_by_name():
    old = {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}
    new = {"containers": [{"name": "new", "image": "n:1"}, {"name": "a", "image": "a:2"},
                          {"name": "b", "image": "b:1"}]}
    assert lines(old, new) == [
        'containers[0]: + {"image": "n:1", "name": "new"}',
        'containers[1].image: "a:1" -> "a:2"',
    ]
    assert lines(new, old) == [
        'containers[0].image: "a:2" -> "a:1"',
        'containers[0]: - {"image": "n:1", "name": "new"}',
    ]


def test_plain_lists_by_position_and_type_changes():
    assert lines({"args": ["a", "b"]}, {"args": ["a", "c", "d"]}) == [
        'args[1]: "b" -> "c"', 'args[2]: + "d"']
    assert lines({"v": 1}, {"v": "1"}) == ['v: 1 -> "1"']
    assert lines({"v": 1}, {"v": True}) == ["v: 1 -> true"]
    assert lines({"a": 1}, {"a": 1}) == []


def test_bounded_and_long_values_cut():
    old = {f"k{i}": i for i in range(MAX_FIELDS * 3)}
    listed, total = field_changes(old, {})
    assert len(listed) == MAX_FIELDS and total == MAX_FIELDS * 3
    long = FieldChange("x", "added", after="y" * 500).line()
    assert len(long) < 100 and long.endswith("...")


def test_diff_shows_the_fields_of_changed_objects_in_every_format(tmp_path: Path) -> None:
    repo = reference_repo(tmp_path)
    path = repo / "blueprints" / REFERENCE
    path.write_text(path.read_text().replace("racks: 16 ", "racks: 18 ", 1))

    text, code = run([], fmt="text", cwd=repo)
    assert code == EXIT_OK
    listing = text.splitlines()
    at = listing.index(f"      ~ {QUOTA}")
    assert listing[at + 1] == '          spec.hard["requests.nvidia.com/gpu"]: "1152" -> "1296"'
    assert "\x1b[" not in text
    painted, _ = run([], fmt="text", cwd=repo, color=True)
    assert f"\x1b[33m      ~ {QUOTA}\x1b[0m" in painted

    md, _ = run([], fmt="markdown", cwd=repo)
    assert (f"- changed `{QUOTA}`\n"
            '  - `spec.hard["requests.nvidia.com/gpu"]: "1152" -> "1296"`') in md
    assert "\x1b[" not in md

    cluster = json.loads(run([], fmt="json", cwd=repo)[0])["clusters"][0]
    assert cluster["fields"][QUOTA] == {"changes": [
        {"path": 'spec.hard["requests.nvidia.com/gpu"]', "change": "changed",
         "before": "1152", "after": "1296"}], "total": 1}
    assert "SUMMARY.md" not in cluster["fields"]  # documents have no fields


def test_field_values_from_blueprints_are_shown_escaped():
    from aifab.diff.compare import ClusterDiff
    from aifab.diff.report import _field_lines

    diff = ClusterDiff("x", "changed", None, None)
    diff.fields["a.yaml"] = ([FieldChange("m", "changed", "a", "b\u202e\x9b")], 1)
    assert _field_lines(diff, "a.yaml") == ['m: "a" -> "b\\u202e\\x9b"']
