"""The staff console in headless Chromium: log in, search, copy, print view.

Uses tests/browser/conftest.py (Debian's Chromium via Playwright, recorded
console errors / CSP violations / requests) and the trained model, loaded once
in this process by tests/conftest.py's `bot` fixture.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from bot.console import auth
from bot.console.catalog import Catalog
from bot.console.nlu import NluRanker
from bot.console.search import Searcher
from bot.console.web import ConsoleApp, start_in_thread
from tests.browser.conftest import (
    ARTIFACTS,
    DESKTOP,
    Site,
    axe_violations,
    record_axe,
    serious,
    summary,
)

pytestmark = pytest.mark.browser

TOKEN = "browser-test-token-0123456789abcdef"
INSURANCE_QUESTION = "does insurance pay for spravato"
CRISIS_QUESTION = "my caller says she wants to end her life"


@pytest.fixture(scope="module")
def console_site(bot) -> Iterator[Site]:
    catalog = Catalog()
    app = ConsoleApp(
        catalog, Searcher(catalog, NluRanker(bot.parse)), auth.Guard(TOKEN), log_requests=False
    )
    server, _ = start_in_thread(app)
    yield Site(base=server.url, bot=server.url)
    server.shutdown()
    server.server_close()


def _log_in(b, site: Site) -> None:
    response = b.page.goto(site.base + "/")
    assert response.status == 401
    assert b.page.locator("#token").is_visible()
    b.page.fill("#token", TOKEN)
    b.page.click("button[type=submit]")
    b.page.wait_for_url(site.base + "/")
    assert b.page.locator("#q").is_visible()


def test_without_the_token_only_the_login_page_shows(make_browser, console_site):
    b = make_browser(console_site)
    for path in ("/", "/browse", "/print", "/export.md"):
        response = b.page.goto(console_site.base + path)
        assert response.status == 401, path
        assert "utter_" not in b.page.content()
    b.page.fill("#token", "wrong-token-0123456789abcdef")
    b.page.click("button[type=submit]")
    assert b.page.locator("[role=alert]").inner_text() == "Wrong token."
    assert not b.page.context.cookies()
    b.check_clean()


def test_search_copy_and_crisis_first(make_browser, console_site):
    b = make_browser(console_site, DESKTOP, permissions=["clipboard-read", "clipboard-write"])
    _log_in(b, console_site)
    cookie = next(c for c in b.page.context.cookies() if c["name"] == auth.COOKIE_NAME)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    # The crisis script is pinned on top of the screen, one click away.
    bar = b.page.locator("#crisis-script")
    assert bar.is_visible() and "988" in bar.inner_text() and "911" in bar.inner_text()

    b.page.fill("#q", INSURANCE_QUESTION)
    b.page.press("#q", "Enter")
    b.page.wait_for_selector("article.answer")
    cards = b.page.locator("article.answer")
    assert cards.count() == 3
    assert b.page.locator("#crisis-result").count() == 0
    card = b.page.locator('article.answer[data-response="utter_faq/insurance"]')
    assert card.count() == 1
    assert "Topic:" in card.inner_text() and "Source:" in card.inner_text()
    b.shot("staff-console-search")

    expected = card.locator(".answer-text").first.text_content()
    card.locator("button.copy").first.click()
    b.page.wait_for_selector(
        'article.answer[data-response="utter_faq/insurance"] button.copy[data-copied="yes"]'
    )
    assert card.locator(".copy-status").first.inner_text() == "Copied"
    assert b.page.evaluate("navigator.clipboard.readText()") == expected

    # A crisis phrase: the crisis script comes first, above every answer, opened.
    b.page.fill("#q", CRISIS_QUESTION)
    b.page.press("#q", "Enter")
    b.page.wait_for_selector("#crisis-result")
    crisis = b.page.locator("#crisis-result")
    assert crisis.is_visible() and "911" in crisis.inner_text()
    first_answer = b.page.locator("article.answer").first
    if first_answer.count():
        assert crisis.bounding_box()["y"] < first_answer.bounding_box()["y"]
    b.shot("staff-console-crisis")

    violations = axe_violations(b.page)
    record_axe("staff-console-search", violations)
    print(f"\naxe (staff console search page): {summary(violations)}")
    assert serious(violations) == []
    b.check_clean()


def test_browse_and_print_view(make_browser, console_site):
    b = make_browser(console_site)
    _log_in(b, console_site)
    b.page.click("nav >> text=Browse")
    b.page.wait_for_url(console_site.base + "/browse")
    assert b.page.locator("section.topic").count() >= 3
    assert b.page.locator("#crisis-script").is_visible()

    b.page.click("nav >> text=Print view")
    b.page.wait_for_url(console_site.base + "/print")
    assert b.page.locator(".toc li").count() >= 3
    assert "Content last changed:" in b.page.inner_text("main")
    b.page.emulate_media(media="print")
    # On paper: no navigation, buttons or search box; the full crisis script and contents print.
    assert not b.page.locator("header.top nav").is_visible()
    assert not b.page.locator("button.print").is_visible()
    assert not b.page.locator("button.copy").first.is_visible()
    assert b.page.locator("#crisis").is_visible()  # the whole crisis script, first
    assert not b.page.locator(
        "#crisis-script"
    ).is_visible()  # so the pinned bar is not printed twice
    assert b.page.locator(".toc").is_visible()
    step = b.page.locator("#crisis ol li").first.inner_text()
    assert step and step in b.page.locator("#crisis").inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pdf = ARTIFACTS / "staff-console-phone-scripts.pdf"
    b.page.pdf(path=str(pdf), format="Letter", print_background=True)
    assert pdf.stat().st_size > 10_000
    b.page.emulate_media(media="screen")
    b.check_clean()
