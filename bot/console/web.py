"""The staff web console on Sanic: token on every request, strict CSP, nothing secret logged.

Routes (all but /login need the token: Bearer header or the login cookie):
  GET  /                 search (?q=the caller's question)
  GET  /browse           every answer by topic + the decision-aid sections
  GET  /print            the printable phone-script document
  GET  /export.md        the same document as Markdown (download)
  GET  /export.html      the same document as a standalone HTML file (download)
  GET  /api/search?q=    search results as JSON
  GET  /login, POST /login, POST /logout
No visitor conversation is ever read or shown: the console only knows the
approved answers.

Why Sanic (Rasa's own web server, already installed) and not http.server:
the hand-rolled server left a refused login's form body unread, and then
logged that body (the staff token) as a malformed next request. Sanic parses
every request itself, reads or discards every body, and enforces body size and
time limits. Its own access log is off; the console writes one line per
request with the method, the path (never the query string: it holds callers'
words) and the status, so no log line can carry a token or a form. Errors are
logged without the URL for the same reason.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import sys
import threading
from http import HTTPStatus
from typing import Any, Dict, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from sanic import Sanic
from sanic.handlers import ErrorHandler
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console import export, pages, render
from bot.console.auth import Guard, LoginThrottle
from bot.console.catalog import Catalog
from bot.console.search import Searcher, SearchResult

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
_names = itertools.count(1)  # Sanic wants a unique name per app in a process
error_log = logging.getLogger("bot.console")
PHONE_SCRIPT_LANGUAGES = ("en", "es")


class ConsoleApp:
    """What the handlers need: content, search, access control."""

    def __init__(
        self,
        catalog: Catalog,
        searcher: Searcher,
        guard: Guard,
        throttle: Optional[LoginThrottle] = None,
        log_requests: bool = True,
    ) -> None:
        self.catalog = catalog
        self.searcher = searcher
        self.guard = guard
        self.throttle = throttle or LoginThrottle()
        self.log_requests = log_requests
        # The phone script in one language (?lang=es), built on first use.
        self._by_language: Dict[str, Catalog] = {}

    def catalog_in(self, language: Optional[str]) -> Catalog:
        """The whole catalog, or one language's ("en" / "es") for the phone script."""
        if language not in PHONE_SCRIPT_LANGUAGES:
            return self.catalog
        if language not in self._by_language:
            self._by_language[language] = Catalog(self.catalog.root, language=language)
        return self._by_language[language]


def result_json(result: SearchResult, catalog: Catalog) -> Dict:
    body: Dict = {
        "query": result.query,
        "crisis": result.crisis,
        "ranker": result.ranker,
        "results": [],
    }
    if result.crisis:
        body["crisis_script"] = catalog.crisis.as_text()

    def item(hit) -> Dict:
        entry = hit.entry
        return {
            "response": entry.name,
            "title": entry.title,
            "topic": entry.topic,
            "texts": entry.texts,
            "sources": list(entry.sources),
            "reviewed": entry.reviewed,
            "score": round(hit.score, 4),
            "model": round(hit.model, 4),
            "keywords": round(hit.keywords, 4),
        }

    body["results"] = [item(hit) for hit in result.hits]
    body["tools"] = [item(tool) for tool in result.tools]
    return body


# ---------------------------------------------------------------- responses
def _send(
    status: int,
    body: bytes,
    content_type: str,
    headers: Optional[Dict[str, str]] = None,
    scripts: bool = True,
) -> HTTPResponse:
    all_headers = {
        "Content-Security-Policy": render.csp(scripts),
        **SECURITY_HEADERS,
        **(headers or {}),
    }
    return HTTPResponse(body, status=status, headers=all_headers, content_type=content_type)


def _html(
    status: int, html: str, headers: Optional[Dict[str, str]] = None, scripts: bool = True
) -> HTTPResponse:
    return _send(status, html.encode("utf-8"), "text/html; charset=utf-8", headers, scripts)


def _json(status: int, payload: Dict, headers: Optional[Dict[str, str]] = None) -> HTTPResponse:
    return _send(
        status,
        json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        "application/json; charset=utf-8",
        headers,
        scripts=False,
    )


def _redirect(location: str, headers: Optional[Dict[str, str]] = None) -> HTTPResponse:
    return _send(
        HTTPStatus.SEE_OTHER,
        b"",
        "text/plain; charset=utf-8",
        {"Location": location, **(headers or {})},
    )


def _message(status: int, title: str, text: str) -> HTTPResponse:
    return _html(status, pages.message_page(title, text), scripts=False)


def _query(request: Request) -> Dict[str, list]:
    return parse_qs(request.query_string, max_num_fields=10)


def _same_origin(request: Request) -> bool:
    """Refuses cross-site form posts (browsers say where a request comes from)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:  # not a browser form (curl, tests): the token decides
        return True
    return origin != "null" and urlsplit(origin).netloc == (request.headers.get("Host") or "")


def _refuse(request: Request) -> HTTPResponse:
    if request.path.startswith("/api/") or "text/html" not in (request.headers.get("Accept") or ""):
        return _json(
            HTTPStatus.UNAUTHORIZED,
            {"error": "staff token required"},
            {"WWW-Authenticate": 'Bearer realm="staff console"'},
        )
    return _html(HTTPStatus.UNAUTHORIZED, pages.login_page(), scripts=False)


def _form(request: Request) -> Optional[Dict[str, list]]:
    """The login form's fields, or None for anything that is not a small urlencoded form."""
    body = request.body or b""
    if len(body) > MAX_BODY:
        return None
    return parse_qs(body.decode("utf-8", "replace"), max_num_fields=5)


class _QuietErrors(ErrorHandler):
    """Sanic's error pages, logged without the URL (its query string holds callers' words)."""

    @staticmethod
    def log(request, exception) -> None:  # noqa: ANN001 - Sanic's signature
        if getattr(exception, "quiet", False):
            return  # 404, 405, 413...: an ordinary refusal, not an error
        path = getattr(request, "path", "?") if request is not None else "?"
        error_log.error("Error while handling %s: %s", path, type(exception).__name__)

    def default(self, request, exception):  # noqa: ANN001 - Sanic's signature
        self.log(request, exception)
        status = getattr(exception, "status_code", 500)
        if status == 404:
            return _message(404, "Not found", "There is no such page.")
        if status == 405:
            return _send(405, b"", "text/plain; charset=utf-8", {"Allow": "GET, HEAD, POST"})
        if status == 413:
            return _message(413, "Too large", "The request was too large.")
        if 400 <= status < 500:
            return _message(status, "Bad request", "The request could not be read.")
        return _message(500, "Error", "Something went wrong. Try again.")


# ---------------------------------------------------------------- the app
class _ConsoleSanic(Sanic):
    # Sanic 21.12 rewrites some of its own methods when an app starts, and a
    # second app in one process (tests start several consoles) then fails
    # unless the originals are kept aside, which is what test_mode does (it
    # also lets two apps share a name; the names are unique here anyway).
    test_mode = True


def build_app(console: ConsoleApp) -> Sanic:
    app = _ConsoleSanic(
        f"staff_console_{next(_names)}", configure_logging=False, error_handler=_QuietErrors()
    )
    app.config.REQUEST_MAX_SIZE = MAX_BODY * 4  # Sanic refuses bigger bodies (413) unread
    app.config.REQUEST_TIMEOUT = 15  # slow clients cannot hold connections open
    app.config.RESPONSE_TIMEOUT = 60
    app.config.KEEP_ALIVE_TIMEOUT = 5
    app.config.ACCESS_LOG = False  # our own line below, which has no query string
    app.config.FALLBACK_ERROR_FORMAT = "html"

    @app.on_response
    async def log_request(request: Request, response: HTTPResponse) -> None:
        """Address, method, path and status: never the query string, a header or a body."""
        if console.log_requests and response is not None:
            sys.stderr.write(f"{request.ip} {request.method} {request.path} {response.status}\n")

    @app.route("/login", methods=["GET", "HEAD"])
    async def login_form(_: Request) -> HTTPResponse:
        return _html(HTTPStatus.OK, pages.login_page(), scripts=False)

    @app.route("/login", methods=["POST"])
    async def login(request: Request) -> HTTPResponse:
        if not _same_origin(request):
            return _message(HTTPStatus.FORBIDDEN, "Forbidden", "Cross-site request refused.")
        client = request.ip
        wait = console.throttle.wait_seconds(client)
        if wait:
            seconds = max(1, round(wait + 0.49))
            return _html(
                HTTPStatus.TOO_MANY_REQUESTS,
                pages.login_page(f"Too many wrong tokens. Wait {seconds} seconds and try again."),
                {"Retry-After": str(seconds)},
                scripts=False,
            )
        form = _form(request)
        token = ((form or {}).get("token") or [""])[0]
        if form is None or not console.guard.token_matches(token):
            console.throttle.failed(client)
            return _html(HTTPStatus.UNAUTHORIZED, pages.login_page("Wrong token."), scripts=False)
        console.throttle.succeeded(client)
        return _redirect("/", {"Set-Cookie": console.guard.set_cookie_header()})

    @app.route("/logout", methods=["POST"])
    async def logout(request: Request) -> HTTPResponse:
        if not _same_origin(request):
            return _message(HTTPStatus.FORBIDDEN, "Forbidden", "Cross-site request refused.")
        return _redirect("/login", {"Set-Cookie": console.guard.clear_cookie_header()})

    async def page(request: Request, path: str = "") -> HTTPResponse:
        path = request.path
        if request.method == "POST" and not _same_origin(request):
            return _message(HTTPStatus.FORBIDDEN, "Forbidden", "Cross-site request refused.")
        if not console.guard.allowed(request.headers):
            return _refuse(request)
        if request.method == "POST":
            return _send(
                HTTPStatus.METHOD_NOT_ALLOWED,
                b"",
                "text/plain; charset=utf-8",
                {"Allow": "GET, HEAD, POST"},
            )
        catalog, searcher = console.catalog, console.searcher
        if path == "/":
            q = (_query(request).get("q") or [""])[0][:MAX_QUERY]
            result = searcher.search(q) if q.strip() else None
            return _html(HTTPStatus.OK, pages.search_page(catalog, result, searcher.ranker))
        if path == "/api/search":
            q = (_query(request).get("q") or [""])[0][:MAX_QUERY]
            return _json(HTTPStatus.OK, result_json(searcher.search(q), catalog))
        if path == "/browse":
            return _html(HTTPStatus.OK, pages.browse_page(catalog))
        language = (_query(request).get("lang") or [""])[0]
        if path == "/print":
            return _html(HTTPStatus.OK, pages.print_page(console.catalog_in(language)))
        if path in ("/export.md", "/export.html"):
            fmt = path.rsplit(".", 1)[1]
            body = export.export(console.catalog_in(language), fmt).encode("utf-8")
            kind = "text/markdown" if fmt == "md" else "text/html"
            return _send(
                HTTPStatus.OK,
                body,
                f"{kind}; charset=utf-8",
                {"Content-Disposition": f'attachment; filename="phone-scripts.{fmt}"'},
                scripts=False,
            )
        return _message(HTTPStatus.NOT_FOUND, "Not found", "There is no such page.")

    # Every other path goes through the token check first, so an unknown page
    # tells a stranger nothing (401, not 404).
    app.add_route(page, "/", methods=["GET", "HEAD", "POST"], name="root")
    app.add_route(page, "/<path:path>", methods=["GET", "HEAD", "POST"], name="page")
    return app


class ConsoleServer:
    """The console app on a socket bound at once (so its URL is known before serving)."""

    def __init__(self, address: Tuple[str, int], app: ConsoleApp) -> None:
        self.app = app
        self.sanic = build_app(app)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(address)
        self.socket.listen(128)
        self.server_address = self.socket.getsockname()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def serve_forever(self) -> None:
        """Serves in this thread until shutdown() (or Ctrl+C in the main thread)."""
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        # Connections wait in the socket's backlog until Sanic has finished
        # starting up (a request accepted earlier would find no routes).
        server: Any = loop.run_until_complete(
            self.sanic.create_server(
                sock=self.socket,
                return_asyncio_server=True,
                access_log=False,
                asyncio_server_kwargs={"start_serving": False},
            )
        )
        loop.run_until_complete(server.startup())
        loop.run_until_complete(server.before_start())
        loop.run_until_complete(server.start_serving())
        loop.run_until_complete(server.after_start())
        try:
            loop.run_forever()
        finally:
            server.close()
            loop.run_until_complete(server.wait_closed())
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()
            self._stopped.set()

    def shutdown(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
            self._stopped.wait(10)

    def server_close(self) -> None:
        self.socket.close()


def start_in_thread(
    app: ConsoleApp, host: str = "127.0.0.1", port: int = 0
) -> Tuple[ConsoleServer, threading.Thread]:
    """For tests: a server on a free port, serving from a daemon thread."""
    server = ConsoleServer((host, port), app)
    thread = threading.Thread(target=server.serve_forever, name="staff-console", daemon=True)
    thread.start()
    return server, thread
