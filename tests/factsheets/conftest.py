"""Fixtures for fact sheet tests: a rich contract document and a local HTTP server that records requests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.factsheets.test_charts import norrkoping_like

# The web app fixtures (app on the test database, client, users), shared with the web tests.
from tests.web.conftest import add_contract, app, client, login_as, make_user  # noqa: F401


def rich_contract(contract_id: str = "se-testkommun-2020") -> dict[str, Any]:
    """A Norrköping-like contract with participants, results, milestones and sources."""
    data = norrkoping_like()
    data["id"] = contract_id
    data["identity"] = {"names": {"sv": "Sociala utfallskontraktet i Örebro – bättre skolgång för placerade barn",
                                  "en": "Örebro social outcomes contract: better schooling for children in care"}}
    data["target_population"] = {"targeted_participants": 60, "unit": "barn och unga", "sources": ["report"],
                                 "confidence": "verified"}
    data["outcome_metrics"][1]["targets"] = [{"value": "10000000", "description": "break-even"}]
    data["results"] = [{"summary": {"sv": "Inga direkta kostnadsbesparingar under tvåårsuppföljningen; "
                                          "skolresultaten förbättrades.",
                                    "en": "No direct savings in the two-year follow-up; school results improved."},
                        "date": "2021-02", "sources": ["report"], "confidence": "verified"}]
    data["milestones"] = [{"date": "2023-06-30", "kind": "measurement", "description": "Mätning av kostnader"}]
    data["governance"] = [{"description": {"sv": "Insatsrådet följer upp insatsen.", "en": "Steering board."},
                           "body": "insatsråd", "frequency": "quarterly", "confidence": "unverified"}]
    return data


class _Recorder(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        type(self).requests.append(self.path)
        body = b"\x89PNG\r\n\x1a\n"  # would be an image if anything ever asked
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recording_server() -> Iterator[tuple[str, list[str]]]:
    """``(base_url, requests)``: a server on 127.0.0.1 that records every request path it receives."""
    handler = type("Handler", (_Recorder,), {"requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
