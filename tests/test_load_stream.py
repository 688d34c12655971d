"""load.load_stream: the documents of a YAML stream, each with its own positions, under the
loader's limits for the stream as a whole."""

from __future__ import annotations

from aifab.load import MAX_ALIASES, load_stream


def test_documents_and_their_positions() -> None:
    docs = load_stream(b"a: 1\n---\nb:\n  c: [1, 2]\n---\n", "f.yaml")
    assert [d.data for d in docs] == [{"a": 1}, {"b": {"c": [1, 2]}}, None]
    assert docs[0].position(("a",)) == (1, 4)
    assert docs[1].position(()) == (3, 1) and docs[1].position(("b", "c", 1)) == (4, 10)
    assert all(not d.findings for d in docs)


def test_findings_stay_with_their_document() -> None:
    docs = load_stream(b"a: 1\n---\nb: on\n", "f.yaml")
    assert not docs[0].findings
    assert [(f.code, f.line) for f in docs[1].findings] == [("AF113", 3)]


def test_anchors_do_not_cross_documents() -> None:
    docs = load_stream(b"a: &x [1]\n---\nb: *x\n", "f.yaml")
    assert docs[0].data == {"a": [1]}
    assert docs[-1].data is None and docs[-1].findings[0].code == "AF104"


def test_the_alias_budget_holds_for_the_stream() -> None:
    one = b"a: &x [1]\nb: [" + b", ".join([b"*x"] * (MAX_ALIASES // 2 + 1)) + b"]\n"
    docs = load_stream(one + b"---\n" + one, "f.yaml")
    assert docs[0].data is not None
    assert docs[-1].data is None and docs[-1].findings[-1].code == "AF109"


def test_a_syntax_error_ends_the_stream_with_a_finding() -> None:
    docs = load_stream(b"a: 1\n---\nb: [\n", "f.yaml")
    assert docs[0].data == {"a": 1}
    assert docs[-1].data is None and docs[-1].findings[0].code == "AF104"


def test_unreadable_bytes_are_one_refused_document() -> None:
    [doc] = load_stream(b"a: \x00", "f.yaml")
    assert doc.data is None and doc.findings[0].code == "AF103"
