"""The staff web console: stdlib http.server, token on every request, strict CSP.

Routes (all but /login need the token: Bearer header or the login cookie):
  GET  /                 search (?q=the caller's question)
  GET  /browse           every answer by topic + the decision-aid sections
  GET  /print            the printable phone-script document
  GET  /export.md        the same document as Markdown (download)
  GET  /export.html      the same document as a standalone HTML file (download)
  GET  /api/search?q=    search results as JSON
  GET  /login, POST /login, POST /logout
No visitor conversation is ever read or shown: the console only knows the
approved answers. Query strings (callers' words) are never logged.
"""
from __future__ import annotations

import json
import re
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from bot.console import export, pages, render
from bot.console.auth import Guard, LoginThrottle
from bot.console.catalog import Catalog
from bot.console.search import SearchResult, Searcher
from bot.serving import serve_in_background

_QUERY = re.compile(r"\?.*?(?=\sHTTP/|'\)|$)")
MAX_BODY = 4096
MAX_QUERY = 500
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class ConsoleApp:
    """What the handler needs: content, search, access control."""

    def __init__(self, catalog: Catalog, searcher: Searcher, guard: Guard,
                 throttle: Optional[LoginThrottle] = None, log_requests: bool = True) -> None:
        self.catalog = catalog
        self.searcher = searcher
        self.guard = guard
        self.throttle = throttle or LoginThrottle()
        self.log_requests = log_requests


def result_json(result: SearchResult, catalog: Catalog) -> Dict:
    body: Dict = {"query": result.query, "crisis": result.crisis, "ranker": result.ranker, "results": []}
    if result.crisis:
        body["crisis_script"] = catalog.crisis.as_text()
    def item(hit) -> Dict:
        entry = hit.entry
        return {
            "response": entry.name, "title": entry.title, "topic": entry.topic,
            "texts": entry.texts, "sources": list(entry.sources), "reviewed": entry.reviewed,
            "score": round(hit.score, 4), "model": round(hit.model, 4), "keywords": round(hit.keywords, 4),
        }

    body["results"] = [item(hit) for hit in result.hits]
    body["tools"] = [item(tool) for tool in result.tools]
    return body


class Handler(BaseHTTPRequestHandler):
    server_version = "StaffConsole"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    @property
    def app(self) -> ConsoleApp:
        return self.server.app  # type: ignore[attr-defined]

    # -- plumbing ------------------------------------------------------
    def log_message(self, fmt: str, *args) -> None:
        """http.server's own messages (errors), with any query string cut out."""
        if self.app.log_requests:
            sys.stderr.write(f"{self.address_string()} {_QUERY.sub('?...', fmt % args)}\n")

    def log_request(self, code="-", size="-") -> None:
        """Method, path and status: never the query string (it holds callers' words)."""
        if self.app.log_requests:
            path = urlsplit(getattr(self, "path", "")).path
            status = int(code) if isinstance(code, int) else code
            sys.stderr.write(f"{self.address_string()} {self.command} {path} {status}\n")

    def _send(self, status: int, body: bytes, content_type: str, headers: Optional[Dict[str, str]] = None,
              scripts: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", render.csp(scripts))
        for name, value in {**SECURITY_HEADERS, **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _html(self, status: int, html: str, headers: Optional[Dict[str, str]] = None, scripts: bool = True) -> None:
        self._send(status, html.encode("utf-8"), "text/html; charset=utf-8", headers, scripts)

    def _json(self, status: int, payload: Dict, headers: Optional[Dict[str, str]] = None) -> None:
        self._send(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                   "application/json; charset=utf-8", headers, scripts=False)

    def _redirect(self, location: str, headers: Optional[Dict[str, str]] = None) -> None:
        self._send(HTTPStatus.SEE_OTHER, b"", "text/plain; charset=utf-8", {"Location": location, **(headers or {})})

    def _split(self) -> Tuple[str, Dict[str, list]]:
        parts = urlsplit(self.path)
        return parts.path, parse_qs(parts.query, max_num_fields=10)

    def _same_origin(self) -> bool:
        """Refuses cross-site form posts (browsers say where a request comes from)."""
        site = self.headers.get("Sec-Fetch-Site")
        if site:
            return site in ("same-origin", "none")
        origin = self.headers.get("Origin")
        if origin is None:          # not a browser form (curl, tests): the token decides
            return True
        return origin != "null" and urlsplit(origin).netloc == (self.headers.get("Host") or "")

    def _refuse(self, path: str) -> None:
        if path.startswith("/api/") or "text/html" not in (self.headers.get("Accept") or ""):
            self._json(HTTPStatus.UNAUTHORIZED, {"error": "staff token required"},
                       {"WWW-Authenticate": 'Bearer realm="staff console"'})
        else:
            self._html(HTTPStatus.UNAUTHORIZED, pages.login_page(), scripts=False)

    def _read_form(self) -> Optional[Dict[str, list]]:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY:
            return None
        raw = self.rfile.read(length).decode("utf-8", "replace")
        return parse_qs(raw, max_num_fields=5)

    # -- methods -------------------------------------------------------
    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path, query = self._split()
        if path == "/login":
            self._html(HTTPStatus.OK, pages.login_page(), scripts=False)
            return
        if not self.app.guard.allowed(self.headers):
            self._refuse(path)
            return
        app = self.app
        if path == "/":
            q = (query.get("q") or [""])[0][:MAX_QUERY]
            result = app.searcher.search(q) if q.strip() else None
            self._html(HTTPStatus.OK, pages.search_page(app.catalog, result, app.searcher.ranker))
        elif path == "/api/search":
            q = (query.get("q") or [""])[0][:MAX_QUERY]
            self._json(HTTPStatus.OK, result_json(app.searcher.search(q), app.catalog))
        elif path == "/browse":
            self._html(HTTPStatus.OK, pages.browse_page(app.catalog))
        elif path == "/print":
            self._html(HTTPStatus.OK, pages.print_page(app.catalog))
        elif path in ("/export.md", "/export.html"):
            fmt = path.rsplit(".", 1)[1]
            body = export.export(app.catalog, fmt).encode("utf-8")
            kind = "text/markdown" if fmt == "md" else "text/html"
            self._send(HTTPStatus.OK, body, f"{kind}; charset=utf-8",
                       {"Content-Disposition": f'attachment; filename="phone-scripts.{fmt}"'}, scripts=False)
        else:
            self._html(HTTPStatus.NOT_FOUND, pages.message_page("Not found", "There is no such page."), scripts=False)

    def do_POST(self) -> None:
        path, _ = self._split()
        if not self._same_origin():
            self._html(HTTPStatus.FORBIDDEN, pages.message_page("Forbidden", "Cross-site request refused."),
                       scripts=False)
            return
        if path == "/login":
            self._login()
        elif path == "/logout":
            self._redirect("/login", {"Set-Cookie": self.app.guard.clear_cookie_header()})
        elif not self.app.guard.allowed(self.headers):
            self._refuse(path)
        else:
            self._not_allowed()

    def _login(self) -> None:
        client = self.client_address[0]
        throttle = self.app.throttle
        if throttle.blocked(client):
            self._html(HTTPStatus.TOO_MANY_REQUESTS, pages.login_page("Too many wrong tokens. Wait a few minutes."),
                       {"Retry-After": "300"}, scripts=False)
            return
        form = self._read_form()
        token = ((form or {}).get("token") or [""])[0]
        if form is None or not self.app.guard.token_matches(token):
            throttle.failed(client)
            self._html(HTTPStatus.UNAUTHORIZED, pages.login_page("Wrong token."), scripts=False)
            return
        throttle.succeeded(client)
        self._redirect("/", {"Set-Cookie": self.app.guard.set_cookie_header()})

    def _not_allowed(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"", "text/plain; charset=utf-8", {"Allow": "GET, HEAD, POST"})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed


class ConsoleServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: Tuple[str, int], app: ConsoleApp) -> None:
        super().__init__(address, Handler)
        self.app = app

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def start_in_thread(app: ConsoleApp, host: str = "127.0.0.1", port: int = 0) -> Tuple[ConsoleServer, threading.Thread]:
    """For tests: a server on a free port, serving from a daemon thread."""
    server = ConsoleServer((host, port), app)
    return server, serve_in_background(server, "staff-console")
