"""A recorded API conversation served over HTTP (REDCap and LORIS cannot run here).

A recording is a JSON list of exchanges: ``{"method", "path", "form"?: {...}, "query"?: {...}, "headers"?: {...},
"once"?: bool, "response": {"status", "headers"?, "body"}}``. A request is answered by the first exchange whose
method and path are equal and whose ``form``/``query``/``headers`` are contained in the request (``once``
exchanges are used up); anything else is answered 599 and listed in ``unmatched``, so a test sees a request the
real service would not have been sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

RECORDINGS = Path(__file__).parent / "recordings"


@dataclass
class Conversation:
    exchanges: list[dict[str, Any]]
    requests: list[dict[str, Any]] = field(default_factory=list)
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def answer(self, seen: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(seen)
        for exchange in self.exchanges:
            if exchange.get("used") or exchange["method"] != seen["method"] or exchange["path"] != seen["path"]:
                continue
            if not all(seen[part].get(key) == value for part in ("form", "query", "headers")
                       for key, value in exchange.get(part, {}).items()):  # fmt: skip
                continue
            if exchange.get("once"):
                exchange["used"] = True
            return dict(exchange["response"])
        self.unmatched.append(seen)
        return {"status": 599, "body": {"error": "not in the recording"}}


def _handler(conversation: Conversation) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            form = dict(parse_qsl(body)) if "form-urlencoded" in (self.headers.get("Content-Type") or "") else {}
            if not form and body.startswith("{"):
                form = json.loads(body)
            seen = {
                "method": self.command,
                "path": parts.path,
                "query": dict(parse_qsl(parts.query)),
                "form": form,
                "headers": {key.lower(): value for key, value in self.headers.items()},
            }
            reply = conversation.answer(seen)
            payload = json.dumps(reply.get("body")).encode()
            self.send_response(int(reply.get("status", 200)))
            for key, value in (reply.get("headers") or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _serve  # noqa: N815 - http.server's names
        do_POST = _serve  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def recorded_server(name: str) -> Iterator[Conversation]:
    """Serve ``recordings/<name>.json`` on a free loopback port; ``conversation.url`` is its base address."""
    conversation = Conversation(exchanges=json.loads((RECORDINGS / f"{name}.json").read_text()))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(conversation))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    conversation.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield conversation
    finally:
        server.shutdown()
        server.server_close()
