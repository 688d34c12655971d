"""`aifab verify` against API servers that do not behave: each answer that is not what a
Kubernetes API server sends is one AF510 finding (never a traceback), and reading is bounded
in time, bytes, nodes and pages whatever the server does. Every server here is a local HTTP
server on 127.0.0.1, driven by the real kubernetes client; every test is bounded in time."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from test_live import SEOUL, kubeconfig, node_object, resolved

from aifab import live
from aifab.cli import main

Answer = Callable[[BaseHTTPRequestHandler, dict[str, list[str]]], None]


class HostileServer:
    """Answers every GET with `answer(handler, query)`; counts the requests."""

    def __init__(self, answer: Answer) -> None:
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests += 1
                try:
                    answer(self, parse_qs(urlsplit(self.path).query))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up: as it should

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def hostile(monkeypatch, tmp_path) -> Iterator[Callable[[Answer], Path]]:
    """hostile(answer) -> a kubeconfig for a server answering so."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    servers: list[HostileServer] = []

    def start(answer: Answer) -> Path:
        servers.append(HostileServer(answer))
        return kubeconfig(tmp_path, servers[-1].url)

    yield start
    for server in servers:
        server.close()


def send(handler: BaseHTTPRequestHandler, body: bytes, status: int = 200,
         content_type: str = "application/json", **headers: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(body)


def node_list(items: Any, **meta: Any) -> bytes:
    return json.dumps({"kind": "NodeList", "apiVersion": "v1", "metadata": meta,
                       "items": items}).encode()


def one_finding(config: Path, seconds: float = 20, **kwargs: Any) -> live.Finding:
    """verify_cluster's findings, which must be a single AF510, in less than `seconds`."""
    _, cluster = resolved(SEOUL)
    started = time.monotonic()
    findings = live.verify_cluster(cluster, live.connect(config), **kwargs)
    assert time.monotonic() - started < seconds
    assert [f.code for f in findings] == ["AF510"], findings
    (f,) = findings
    assert f.is_error and f.hint and len(f.message) < 600
    return f


def healthy(name: str = "se2-rtx-01") -> dict[str, Any]:
    return node_object(name, {"aifab.dev/pool": "rtx-mig"})


@pytest.mark.parametrize(("body", "said"), [
    (node_list(None), "is not a NodeList (no list of items)"),
    (b"<html><body><h1>502 Bad Gateway</h1></body></html>",
     "is not JSON: <html><body><h1>502 Bad Gateway</h1></body></html>"),
    (b"[" * 3000 + b"]" * 3000, "is not JSON"),  # deeper than the recursion limit
    (node_list([{"spec": {}}]), "has a node without metadata"),
    (node_list(["node-1"]), "has a node without metadata"),
    (node_list([{"metadata": {"labels": {}}}]), "has a node with no name, not a node name"),
    (node_list([{"metadata": {"name": "\x1b[2Jevil"}}]),
     "has a node with the name \\x1b[2Jevil, not a node name"),
    (node_list([{**healthy(), "status": {"conditions": [{"type": "Ready"}]}}]),
     "has node se2-rtx-01 with a Ready condition whose status is not one of True, False, "
     "Unknown"),
    (node_list([{**healthy(), "status": {"conditions": "Ready"}}]),
     "has node se2-rtx-01 with status.conditions that are not a list of conditions"),
    (node_list([{"metadata": {"name": "n1", "labels": {"aifab.dev/pool": ["a", "b"]}}}]),
     "has node n1 with the label aifab.dev/pool=['a', 'b'], which is not a Kubernetes label"),
    (node_list([{"metadata": {"name": "n1", "labels": ["aifab.dev/pool=rtx-mig"]}}]),
     "has node n1 with labels that are not a map"),
    (node_list([{"metadata": {"name": "n1", "labels": {"k": "v" * 64}}}]),
     "which is not a Kubernetes label"),
    (node_list([], **{"continue": 7}), "has a continue token that is not a string of at most"),
    (node_list([], **{"continue": "t" * 5000}), "has a continue token that is not a string"),
    (json.dumps({"metadata": "x", "items": []}).encode(), "has metadata that is not a map"),
], ids=["items-null", "html", "deep-nesting", "no-metadata", "item-not-object", "nameless",
        "escape-in-name", "ready-without-status", "conditions-not-list", "list-label-value",
        "labels-not-map", "long-label-value", "continue-not-string", "continue-huge",
        "metadata-not-map"])
def test_an_answer_no_api_server_sends_is_one_af510(hostile, body, said):
    config = hostile(lambda handler, query: send(handler, body))
    f = one_finding(config)
    assert f.message.startswith("the API server's answer to GET /api/v1/nodes?labelSelector=")
    assert said in f.message
    assert "\x1b" not in f.message and "kubectl get --raw /version" in f.hint


def test_a_body_trickled_a_byte_at_a_time_ends_at_the_deadline(hostile):
    def trickle(handler, query):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", "1000000")
        handler.end_headers()
        for _ in range(600):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.05)

    f = one_finding(hostile(trickle), seconds=4, timeout=1.0)
    assert f.message == "the API server did not answer in full within 1 s"
    assert "--timeout" in f.hint


def test_a_server_that_never_answers_ends_at_the_deadline_not_after_every_retry(hostile):
    f = one_finding(hostile(lambda handler, query: time.sleep(10)), seconds=4, timeout=1.0)
    assert "Read timed out" in f.message or "within 1 s" in f.message


def test_a_server_that_ignores_limit_is_refused_at_the_first_page(hostile):
    nodes = [healthy(f"se2-rtx-{i:02d}") for i in range(1, 21)]
    server_pages = []

    def everything(handler, query):
        server_pages.append(query)
        send(handler, node_list(nodes, **{"continue": "more"}))

    f = one_finding(hostile(everything), page_size=7)
    assert "has 20 nodes, more than the 7 asked for (limit)" in f.message
    assert len(server_pages) == 1


def test_endless_continue_tokens_stop_at_the_node_cap(hostile, monkeypatch):
    monkeypatch.setattr(live, "MAX_NODES", 100)
    pages = []

    def endless(handler, query):
        pages.append(query)
        send(handler, node_list([healthy(f"n{len(pages)}-{i}") for i in range(7)],
                                **{"continue": f"token-{len(pages)}"}))

    f = one_finding(hostile(endless), page_size=7)
    assert f.message == "the API server sent more than 100 nodes in all"
    assert len(pages) == 15  # 105 nodes: the 15th page is one too many


def test_endless_empty_pages_stop_at_the_page_cap(hostile, monkeypatch):
    monkeypatch.setattr(live, "MAX_PAGES", 30)
    f = one_finding(hostile(lambda handler, query: send(handler, node_list(
        [], **{"continue": "again"}))))
    assert f.message == "the API server kept paging after 30 pages of 500 nodes"


def test_an_answer_over_the_size_cap_is_not_read_to_its_end(hostile, monkeypatch):
    monkeypatch.setattr(live, "MAX_RESPONSE_BYTES", 1 << 20)
    written = []

    def huge(handler, query):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.end_headers()  # no length: the body ends when the connection does
        handler.wfile.write(b'{"items": [')
        for _ in range(1000):  # 64 MB if read to the end
            handler.wfile.write(b'{"metadata": {"name": "x"}},' * 2500)
            written.append(1)

    f = one_finding(hostile(huge))
    assert f.message.endswith(f"is larger than {1 << 20} bytes")
    assert len(written) < 1000


def test_answers_over_the_total_cap_stop_the_run(hostile, monkeypatch):
    monkeypatch.setattr(live, "MAX_TOTAL_BYTES", 50_000)
    body = node_list([healthy(f"se2-rtx-{i:02d}") for i in range(1, 8)], **{"continue": "x"})
    f = one_finding(hostile(lambda handler, query: send(handler, body)), page_size=7)
    assert "(50000 bytes in all)" in f.message


def test_an_error_with_a_huge_message_is_shown_clipped(hostile):
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
              "code": 403, "message": "nodes is forbidden: \x1b[31m" + "x" * 5_000_000}
    body = json.dumps(status).encode()
    f = one_finding(hostile(lambda handler, query: send(handler, body, status=403)))
    assert f.message.startswith("the API server answered 403 Forbidden to GET /api/v1/nodes")
    assert ": nodes is forbidden: \\x1b[31mxxx" in f.message and f.message.endswith("...")
    assert "kubectl auth can-i list nodes" in f.hint


def test_an_answer_compressed_unasked_is_refused(hostile):
    body = node_list([healthy()])
    f = one_finding(hostile(lambda handler, query: send(handler, body,
                                                        Content_Encoding="gzip")))
    assert "encoded as gzip, which aifab did not ask for" in f.message


def test_a_well_behaved_server_still_reads_within_the_budget(hostile):
    """The bounded reading changes nothing for a server that behaves."""
    _, cluster = resolved(SEOUL)
    from test_live import healthy_nodes, matches

    nodes = healthy_nodes(cluster)

    def honest(handler, query):
        selector = query.get("labelSelector", [""])[0]
        send(handler, node_list([n for n in nodes if matches(selector, n["metadata"]["labels"])]))

    config = hostile(honest)
    assert live.verify_cluster(cluster, live.connect(config)) == []


def test_verify_timeout_flag_bounds_the_command(hostile, capsys):
    def silent(handler, query):
        time.sleep(10)

    config = hostile(silent)
    started = time.monotonic()
    assert main(["verify", str(SEOUL), "--kubeconfig", str(config), "--timeout", "0.5"]) == 1
    assert time.monotonic() - started < 4
    out = capsys.readouterr()
    assert "AF510" in out.out and "Traceback" not in out.out + out.err


def test_verify_timeout_must_be_positive(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["verify", "--kubeconfig", str(tmp_path / "k"), "--timeout", "0"])
    assert exit_.value.code == 2
    assert "--timeout" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    assert f"(default: {live.DEADLINE:g})" in " ".join(capsys.readouterr().out.split())
