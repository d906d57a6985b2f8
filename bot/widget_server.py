"""Serves the chat widget and its SAMPLE clinic page for local demos and tests.

    python -m bot.widget_server --port 8000 --bot-url http://localhost:5005

then open http://localhost:8000/demo/ (or /demo/es.html, the Spanish page; the
Rasa server must allow that origin: ``rasa run --cors "http://localhost:8000"``).

    python -m bot.widget_server --print-embed --bot-url https://bot.example-clinic.com [--lang es]

prints the widget's script tag for a clinic's own site, with the clinic's name,
phone and hours from the clinic profile (``--lang es``: for a Spanish page).

Only for development: a clinic serves widget.js and widget.css from its own
web server (see widget/README.md). What this server adds over
``python -m http.server``:

- a strict Content-Security-Policy on every page, so the demo proves the widget
  needs no inline script or style and talks to nobody but the bot server;
- the demo pages' ``data-server`` attribute is pointed at ``--bot-url``, and
  their ``{clinic_name}``, ``{clinic_phone}``... are filled in from the clinic
  profile (the ``clinic_*`` slots in domain.yml), so the sample clinic's
  details are written in one place only;
- no directory listings, loopback-only by default.
"""

from __future__ import annotations

import argparse
import functools
import html
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional, Tuple
from urllib.parse import urlsplit

from bot.content import clinic_profile, fill
from bot.serving import serve_in_background, serve_until_interrupted

WIDGET_DIR = Path(__file__).resolve().parent.parent / "widget"
DEMO_DEFAULT_SERVER = 'data-server="http://localhost:5005"'


def with_clinic_profile(page: str) -> str:
    """The page with ``{clinic_*}`` filled in from the clinic profile, HTML-escaped."""
    return fill(page, {k: html.escape(v, quote=True) for k, v in clinic_profile().items()})


# The clinic profile's hours in each language the widget speaks.
HOURS = {"en": "{clinic_hours}", "es": "{clinic_hours_es}"}


def embed_tag(bot_url: str, src: str = "widget.js", lang: str = "en") -> str:
    """The one script tag a clinic's site needs, with the clinic profile's details.

    ``lang`` is the page's language (``data-lang``): ``data-clinic-hours`` is
    written in it, ``data-clinic-hours-<other>`` in the other language.
    """
    origin_of(bot_url)  # validates
    if lang not in HOURS:
        raise ValueError(f"lang must be one of {sorted(HOURS)}, not {lang!r}")
    other = next(code for code in HOURS if code != lang)
    attrs = {"data-server": bot_url.rstrip("/")}
    if lang != "en":
        attrs["data-lang"] = lang
    attrs.update(
        {
            "data-clinic-name": "{clinic_name}",
            "data-clinic-phone": "{clinic_phone}",
            "data-clinic-hours": HOURS[lang],
            f"data-clinic-hours-{other}": HOURS[other],
        }
    )
    lines = [f'<script src="{html.escape(src, quote=True)}" defer']
    lines += [f'        {name}="{html.escape(value, quote=True)}"' for name, value in attrs.items()]
    return with_clinic_profile("\n".join(lines) + "></script>")


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(bot_url: str) -> str:
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            f"connect-src {origin_of(bot_url)}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


class WidgetHandler(SimpleHTTPRequestHandler):
    bot_url = "http://localhost:5005"

    def __init__(self, *args, bot_url: str, **kwargs) -> None:
        self.bot_url = bot_url
        super().__init__(*args, directory=str(WIDGET_DIR), **kwargs)

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", content_security_policy(self.bot_url))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def list_directory(self, path):  # noqa: ANN001 - stdlib signature
        self.send_error(HTTPStatus.NOT_FOUND, "No directory listings")
        return None

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        path = urlsplit(self.path).path
        if path in ("", "/"):
            self.send_response(HTTPStatus.FOUND)
            self.send_header("Location", "/demo/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path.startswith("/demo/") and (path.endswith(".html") or path.endswith("/")):
            self._send_demo_page(path)
            return
        super().do_GET()

    def _send_demo_page(self, path: str) -> None:
        name = path[len("/demo/") :] or "index.html"
        file = (WIDGET_DIR / "demo" / name).resolve()
        if file.parent != (WIDGET_DIR / "demo").resolve() or not file.is_file():
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        page = file.read_text(encoding="utf-8")
        page = page.replace(DEMO_DEFAULT_SERVER, f'data-server="{self.bot_url}"')
        body = with_clinic_profile(page).encode("utf-8")
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        if not getattr(self.server, "quiet", False):
            super().log_message(format, *args)


def make_server(
    host: str = "127.0.0.1",
    port: int = 8000,
    bot_url: str = "http://localhost:5005",
    quiet: bool = False,
) -> ThreadingHTTPServer:
    origin_of(bot_url)  # validates
    handler = functools.partial(WidgetHandler, bot_url=bot_url.rstrip("/"))
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.quiet = quiet  # type: ignore[attr-defined]
    return server


def serve_in_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    bot_url: str = "http://localhost:5005",
) -> Tuple[ThreadingHTTPServer, str]:
    """Starts a quiet server on a free port; returns (server, base URL). Call server.shutdown()."""
    server = make_server(host, port, bot_url, quiet=True)
    serve_in_background(server, "widget-demo")
    return server, f"http://{host}:{server.server_address[1]}"


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--bot-url", default="http://localhost:5005", help="the Rasa server the demo page talks to"
    )
    parser.add_argument(
        "--print-embed",
        action="store_true",
        help="print the script tag for a clinic's site (clinic profile filled in)",
    )
    parser.add_argument(
        "--widget-src",
        default="widget.js",
        help="with --print-embed: where the site serves widget.js",
    )
    parser.add_argument(
        "--lang",
        choices=sorted(HOURS),
        default="en",
        help="with --print-embed: the page's language (data-lang); the widget starts in it",
    )
    args = parser.parse_args(argv)
    if args.print_embed:
        print(embed_tag(args.bot_url, args.widget_src, args.lang))
        return
    server = make_server(args.host, args.port, args.bot_url)
    host = "localhost" if args.host == "127.0.0.1" else args.host
    print(f"Sample clinic page: http://{host}:{args.port}/demo/ (Spanish: /demo/es.html)")
    print(f"It talks to the bot at {args.bot_url} (start Rasa with --cors for this page's origin).")
    serve_until_interrupted(server)


if __name__ == "__main__":
    main()
