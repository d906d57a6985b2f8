"""Browser fixtures: headless Debian Chromium driven by Playwright for Python.

- Chromium is Debian's (/usr/bin/chromium, `apt-get install chromium`; `make test`
  installs it). Playwright's own browser download is never used. If Chromium is
  missing and cannot be installed, every browser test is skipped with the reason.
- `site` serves widget/ (sample clinic page + widget) with bot/widget_server.py,
  whose Content-Security-Policy only allows the configured bot server.
- `live` (session scope) starts the real action server + Rasa server (trained
  model) once, with CORS limited to the sample page's origin.
- `mock_site` serves the same page but points it at a fake bot URL that each
  test answers with Playwright routing (widget unit tests, no model needed).
- Every page records dialogs, console errors, CSP violations and every URL it
  requests; `Browser.check_clean()` asserts nothing unexpected happened.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from bot.widget_server import serve_in_thread
from scripts.servers import ROOT, RasaServer, free_port

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "tests" / "artifacts"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
MOCK_BOT = "http://127.0.0.1:9"  # never contacted: tests answer it with page.route


def _chromium_or_skip() -> str:
    if shutil.which(CHROMIUM) or Path(CHROMIUM).is_file():
        return CHROMIUM
    # Same step as the Makefile, for a developer running pytest directly.
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        try:
            subprocess.run(
                ["apt-get", "update", "-q"], env=env, check=False, capture_output=True, timeout=600
            )
            subprocess.run(
                ["apt-get", "install", "-y", "-q", "chromium"],
                env=env,
                check=False,
                capture_output=True,
                timeout=900,
            )
        except (OSError, subprocess.TimeoutExpired):
            pass
        if Path(CHROMIUM).is_file():
            return CHROMIUM
    pytest.skip(
        f"Chromium not found at {CHROMIUM} and it could not be installed "
        "(run `apt-get install chromium` as root, or set CHROMIUM=/path/to/chromium)"
    )


@pytest.fixture(scope="session")
def chromium_browser():
    executable = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    manager = sync_playwright().start()
    browser = manager.chromium.launch(
        executable_path=executable,
        headless=True,
        args=CHROMIUM_ARGS,
    )
    yield browser
    browser.close()
    manager.stop()


# ---------------------------------------------------------------- sites
@dataclass
class Site:
    base: str  # http://127.0.0.1:PORT (the page origin)
    bot: str  # the bot server the page talks to
    tracker_db: Optional[Path] = None  # the real bot's SQLite store (live only)

    @property
    def demo(self) -> str:
        return f"{self.base}/demo/index.html"

    @property
    def about(self) -> str:
        return f"{self.base}/demo/about.html"

    @property
    def es(self) -> str:
        """The sample site's Spanish page (the widget starts in Spanish: data-lang="es")."""
        return f"{self.base}/demo/es.html"

    @property
    def webhook(self) -> str:
        return f"{self.bot}/webhooks/rest/webhook"


@pytest.fixture(scope="session")
def mock_site() -> Iterator[Site]:
    server, base = serve_in_thread(bot_url=MOCK_BOT)
    yield Site(base=base, bot=MOCK_BOT)
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def live(model_path, action_server) -> Iterator[Site]:
    """The sample page + the real Rasa server (CORS: only the page's origin)."""
    web_port, rasa_port = free_port(), free_port()
    origin = f"http://127.0.0.1:{web_port}"
    rasa = RasaServer(action_port=action_server.port, port=rasa_port, cors=[origin]).start()
    server, base = serve_in_thread(port=web_port, bot_url=rasa.url)
    assert base == origin
    yield Site(base=base, bot=rasa.url, tracker_db=rasa.tracker_db)
    server.shutdown()
    server.server_close()
    rasa.cleanup()


# ---------------------------------------------------------------- pages
@dataclass
class Browser:
    """One browser context (fresh storage) + page, with everything it did recorded."""

    page: Any
    site: Site
    dialogs: List[str] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)
    requests: List[str] = field(default_factory=list)

    def check_clean(self) -> None:
        assert not self.dialogs, f"the page opened dialogs: {self.dialogs}"
        assert not self.errors, f"console errors / CSP violations: {self.errors}"
        allowed = (self.site.base + "/", self.site.bot + "/")
        foreign = [u for u in self.requests if not u.startswith(allowed)]
        assert not foreign, f"requests to other hosts: {foreign}"

    # -- widget helpers ------------------------------------------------
    @property
    def launcher(self):
        return self.page.locator(".kaid-launcher")

    @property
    def panel(self):
        return self.page.locator("#kaid-panel")

    @property
    def input(self):
        return self.page.locator("#kaid-input")

    def open(self, url: Optional[str] = None) -> None:
        self.page.goto(url or self.site.demo)
        self.launcher.click()
        self.panel.wait_for(state="visible")

    def bot_count(self) -> int:
        return self.page.locator(
            ".kaid-messages .kaid-bot:not(.kaid-typing):not(.kaid-greeting)"
        ).count()

    def say(self, text: str, timeout: float = 60_000) -> None:
        """Types a message, sends it with Enter and waits for the reply to render."""
        before = self.bot_count()
        self.input.fill(text)
        self.input.press("Enter")
        self.wait_reply(before, timeout)

    def wait_reply(self, before: int, timeout: float = 60_000) -> None:
        self.page.wait_for_function(
            """(n) => !document.querySelector('.kaid-typing') &&
                     (document.querySelectorAll(
                        '.kaid-messages .kaid-bot:not(.kaid-typing):not(.kaid-greeting)').length > n
                      || document.querySelector('.kaid-notice'))""",
            arg=before,
            timeout=timeout,
        )

    def shot(self, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), animations="disabled")
        return path

    def horizontal_overflow(self) -> int:
        """Pixels the page (or the open panel) scrolls sideways; 0 means nothing overflows."""
        return self.page.evaluate(
            """() => {
                const doc = document.documentElement;
                const panel = document.querySelector('#kaid-panel');
                const log = document.querySelector('.kaid-log');
                let worst = Math.max(0, doc.scrollWidth - doc.clientWidth);
                for (const el of [panel, log]) {
                    if (el && !el.hidden) worst = Math.max(worst, el.scrollWidth - el.clientWidth);
                }
                // any widget element sticking out of the viewport
                for (const el of document.querySelectorAll('.kaid-root *')) {
                    const r = el.getBoundingClientRect();
                    if (r.width && r.height && (r.right > doc.clientWidth + 1 || r.left < -1)
                        && !el.closest('.kaid-sr') && !el.closest('thead')) {
                        worst = Math.max(worst,
                                         Math.ceil(Math.max(r.right - doc.clientWidth, -r.left)));
                    }
                }
                return worst;
            }"""
        )


def _new_browser(chromium_browser, site: Site, viewport: Dict[str, int], **ctx) -> Browser:
    context = chromium_browser.new_context(viewport=viewport, **ctx)
    page = context.new_page()
    page.set_default_timeout(30_000)
    b = Browser(page=page, site=site)

    def on_dialog(dialog) -> None:
        b.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_console(msg) -> None:
        text = msg.text
        if msg.type == "error" and "Failed to load resource" not in text:
            b.errors.append(text)
        elif "Content Security Policy" in text or "Content-Security-Policy" in text:
            b.errors.append(text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: b.errors.append(f"pageerror: {exc}"))
    page.on("request", lambda req: b.requests.append(req.url))
    return b


@pytest.fixture
def make_browser(chromium_browser) -> Iterator[Callable[..., Browser]]:
    contexts: List[Any] = []

    def make(site: Site, viewport: Dict[str, int] = DESKTOP, **ctx) -> Browser:
        b = _new_browser(chromium_browser, site, viewport, **ctx)
        contexts.append(b.page.context)
        return b

    yield make
    for context in contexts:
        context.close()


# ---------------------------------------------------------------- mock bot
class MockBot:
    """Answers the widget's webhook calls from a test (no Rasa needed)."""

    def __init__(self, page, site: Site) -> None:
        self.page = page
        self.site = site
        self.received: List[Dict[str, Any]] = []
        self.deleted: List[str] = []  # sender ids of DELETE /conversations/<id>
        self.replies: List[Any] = []
        self.fail = False
        page.route(f"{site.bot}/**", self._handle)

    def queue(self, *messages: Dict[str, Any]) -> None:
        self.replies.append(list(messages))

    def _handle(self, route) -> None:
        request = route.request
        cors = {
            "Access-Control-Allow-Origin": self.site.base,
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Allow-Methods": "POST, DELETE, OPTIONS",
        }
        if request.method == "OPTIONS":
            route.fulfill(status=204, headers=cors)
            return
        if self.fail:
            route.abort("connectionrefused")
            return
        if request.method == "DELETE":
            prefix = f"{self.site.bot}/webhooks/rest/conversations/"
            assert request.url.startswith(prefix), request.url
            self.deleted.append(urllib.parse.unquote(request.url[len(prefix) :]))
            route.fulfill(status=204, headers=cors)
            return
        body = json.loads(request.post_data or "{}")
        self.received.append(body)
        if body.get("message") == "/restart":
            route.fulfill(status=200, headers=cors, content_type="application/json", body="[]")
            return
        reply = self.replies.pop(0) if self.replies else [{"text": f"echo: {body.get('message')}"}]
        for message in reply:
            message.setdefault("recipient_id", body.get("sender"))
        route.fulfill(
            status=200, headers=cors, content_type="application/json", body=json.dumps(reply)
        )


# ---------------------------------------------------------------- accessibility
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def axe_violations(page, context: Optional[str] = None) -> List[Dict[str, Any]]:
    """Runs axe-core (bundled by axe-playwright-python) and returns its violations."""
    from axe_playwright_python.sync_playwright import Axe

    # Let open/close animations finish: axe measures colours as painted.
    page.wait_for_function(
        "() => document.getAnimations().every(a => a.playState !== 'running'"
        " || a.effect.getComputedTiming().iterations === Infinity)"
    )
    results = Axe().run(
        page, context=context, options={"runOnly": {"type": "tag", "values": AXE_TAGS}}
    )
    return results.response["violations"]


def serious(violations: List[Dict[str, Any]]) -> List[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -> "
        + "; ".join(
            n["target"][0] if isinstance(n["target"][0], str) else str(n["target"])
            for n in v["nodes"][:5]
        )
        for v in violations
        if v.get("impact") in ("serious", "critical")
    ]


def summary(violations: List[Dict[str, Any]]) -> str:
    return ", ".join(f"{v['id']}({v['impact']}, {len(v['nodes'])})" for v in violations) or "none"


def record_axe(name: str, violations: List[Dict[str, Any]]) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"axe-{name}.json").write_text(json.dumps(violations, indent=1))
