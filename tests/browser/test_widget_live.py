"""The widget on the sample clinic page against the REAL bot (trained model).

One Rasa server + action server for the whole session (fixture `live`), with
CORS limited to the sample page's origin. Screenshots of the main states go to
tests/artifacts/ (git-ignored); so do the axe-core results.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
import yaml

from bot.content import answers
from bot.widget_server import serve_in_thread
from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    ROOT,
    Site,
    axe_violations,
    record_axe,
    serious,
    summary,
)

pytestmark = [pytest.mark.browser, pytest.mark.server]

XSS = "<img src=x onerror=alert(1)>"
CRISIS = "I want to end my life"
CRISIS_ES = "quiero quitarme la vida"
FAQ_KEY = "session_length"


def answer_text(name: str, language: str = "en") -> str:
    return next(a.text for a in answers() if a.name == name and a.language == language)


def faq_question(key: str = FAQ_KEY, language: str = "en") -> str:
    """A training example of faq/<key> (the NLU is sure to know it); Spanish: data/nlu/es."""
    folder = ROOT / "data" / "nlu" / ("es" if language == "es" else "")
    for path in sorted(folder.glob("*.yml")):
        for block in yaml.safe_load(path.read_text()).get("nlu") or []:
            if block.get("intent") == f"faq/{key}":
                return block["examples"].strip().splitlines()[0].lstrip("- ").strip()
    raise AssertionError(f"no training example for faq/{key}")


def last_bot_text(b) -> str:
    return b.page.locator(".kaid-messages .kaid-bot:not(.kaid-greeting)").last.inner_text()


def all_text(b) -> str:
    return b.page.locator(".kaid-messages").inner_text()


def whole_table_button(language: str = "en") -> str:
    from bot.decision_aid import load

    return load(language=language).button_titles["whole_table"]


def show_comparison(b, language: str = "en") -> None:
    """Asks to compare and clicks through to the full comparison table."""
    b.say("compare my options" if language == "en" else "compara mis opciones")
    for _ in range(3):
        if b.page.locator("table.kaid-table").count():
            return
        buttons = b.page.locator(".kaid-quick-btn")
        wanted = buttons.filter(has_text=whole_table_button(language))
        target = wanted.first if wanted.count() else buttons.first
        before = b.bot_count()
        target.click()
        b.wait_reply(before)
    assert b.page.locator("table.kaid-table").count(), all_text(b)[-2000:]


@pytest.fixture
def phone(make_browser, live):
    return make_browser(live, PHONE, is_mobile=True, has_touch=True)


@pytest.fixture
def desk(make_browser, live):
    return make_browser(live, DESKTOP)


# ---------------------------------------------------------------- content
@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_faq_question_gets_its_answer(make_browser, live, viewport):
    b = make_browser(live, PHONE if viewport == "phone" else DESKTOP)
    b.page.goto(live.demo)
    assert b.horizontal_overflow() == 0
    b.shot(f"live-{viewport}-closed")
    b.launcher.click()
    b.panel.wait_for(state="visible")
    b.shot(f"live-{viewport}-open")
    b.say(faq_question())
    text = all_text(b)
    assert answer_text(f"utter_faq/{FAQ_KEY}") in text
    # The widget's own disclaimer says who the bot is; the bot does not repeat
    # it (metadata disclaimer_shown), as the REST channel's intro does elsewhere.
    assert "automated assistant" in b.page.locator(".kaid-disclaimer").inner_text()
    assert "automated assistant" not in text
    assert b.horizontal_overflow() == 0
    b.shot(f"live-{viewport}-faq")
    b.check_clean()


def test_comparison_shows_a_real_table_on_a_phone(phone):
    phone.open()
    show_comparison(phone)
    table = phone.page.locator("table.kaid-table")
    assert table.locator("thead th[scope=col]").count() >= 3
    assert table.locator("tbody tr").count() >= 2
    assert table.locator("tbody th[scope=row]").count() == table.locator("tbody tr").count()
    assert phone.horizontal_overflow() == 0
    table.locator("caption").scroll_into_view_if_needed()
    phone.shot("live-phone-table")
    phone.check_clean()


def test_comparison_table_on_desktop_expanded(desk):
    desk.open()
    show_comparison(desk)
    desk.page.locator(".kaid-expand").click()
    desk.page.locator("table.kaid-table caption").scroll_into_view_if_needed()
    assert (
        desk.page.locator("table.kaid-table").evaluate("t => getComputedStyle(t).display")
        == "table"
    )
    assert desk.horizontal_overflow() == 0
    desk.shot("live-desktop-table-expanded")
    desk.check_clean()


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_crisis_message_shows_the_988_card(make_browser, live, viewport):
    b = make_browser(live, PHONE if viewport == "phone" else DESKTOP)
    b.open()
    b.say(CRISIS)
    card = b.page.locator(".kaid-crisis-card")
    assert card.count() == 1 and card.is_visible()
    for href in ("tel:988", "sms:988", "tel:911"):
        assert card.locator(f"a.kaid-action[href='{href}']").is_visible(), href
    assert "988lifeline.org" in card.inner_text()
    assert b.horizontal_overflow() == 0
    b.shot(f"live-{viewport}-crisis")
    b.check_clean()


def test_markup_in_a_message_is_shown_as_text(desk):
    desk.open()
    desk.say(XSS)
    assert desk.page.locator(".kaid-user .kaid-bubble").last.inner_text() == XSS
    assert desk.page.locator(".kaid-root img").count() == 0
    desk.page.wait_for_timeout(500)
    desk.check_clean()  # no alert() dialog, no console error


# ---------------------------------------------------------------- memory
def test_history_survives_reload_and_pages_and_start_over_resets(desk):
    desk.open()
    question = faq_question()
    desk.say(question)
    expected = answer_text(f"utter_faq/{FAQ_KEY}")
    sender = desk.page.evaluate("() => window.KetamineAidWidget.senderId()")
    desk.page.reload()
    assert desk.panel.is_visible()
    assert desk.page.locator(".kaid-user .kaid-bubble").all_inner_texts() == [question]
    assert expected in all_text(desk)
    desk.page.goto(desk.site.about)
    assert expected in all_text(desk)
    assert desk.page.evaluate("() => window.KetamineAidWidget.senderId()") == sender
    # Same conversation on the server: no second introduction.
    desk.say(faq_question("history"))
    assert "automated assistant of" not in last_bot_text(desk)
    desk.shot("live-desktop-history")

    desk.page.locator(".kaid-restart").click()
    assert desk.page.locator(".kaid-user").count() == 0
    assert desk.page.locator(".kaid-disclaimer").is_visible()
    assert desk.page.evaluate("() => window.KetamineAidWidget.senderId()") != sender
    desk.say(question)
    # A brand-new conversation: the disclaimer shows again, and the bot does not
    # repeat it.
    assert desk.page.locator(".kaid-disclaimer").is_visible()
    assert "automated assistant of" not in all_text(desk)
    desk.page.reload()
    assert desk.page.locator(".kaid-user .kaid-bubble").all_inner_texts() == [question]
    desk.check_clean()


# ---------------------------------------------------------------- keyboard
def test_whole_exchange_with_the_keyboard_alone(desk):
    page = desk.page
    page.goto(desk.site.demo)
    for _ in range(25):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.classList.contains('kaid-launcher')"):
            break
    else:
        pytest.fail("Tab never reached the launcher")
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "kaid-input"
    page.keyboard.type("hello")
    before = desk.bot_count()
    page.keyboard.press("Enter")
    desk.wait_reply(before)
    assert page.locator(".kaid-quick-btn").count() > 0, "the greeting offers topics"
    # Back from the input to the last quick reply, choose it with Enter.
    page.keyboard.press("Shift+Tab")
    chosen = page.evaluate("() => document.activeElement.textContent")
    assert page.evaluate("() => document.activeElement.classList.contains('kaid-quick-btn')")
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") != "none"
    desk.shot("live-desktop-keyboard-focus")
    before = desk.bot_count()
    page.keyboard.press("Enter")
    desk.wait_reply(before)
    assert page.locator(".kaid-user .kaid-bubble").last.inner_text() == chosen
    # Focus went on to the message box; a typed question works too.
    assert page.evaluate("() => document.activeElement.id") == "kaid-input"
    page.keyboard.type(faq_question())
    before = desk.bot_count()
    page.keyboard.press("Enter")
    desk.wait_reply(before)
    assert answer_text(f"utter_faq/{FAQ_KEY}") in all_text(desk)
    page.keyboard.press("Escape")
    assert desk.panel.is_hidden()
    assert page.evaluate("() => document.activeElement.classList.contains('kaid-launcher')")
    desk.check_clean()


# ---------------------------------------------------------------- accessibility
@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_axe_finds_no_serious_violations(make_browser, live, viewport, language):
    b = make_browser(live, PHONE if viewport == "phone" else DESKTOP)
    b.page.goto(live.demo if language == "en" else live.es)
    found = {"closed": axe_violations(b.page)}
    b.launcher.click()
    found["open"] = axe_violations(b.page)
    b.say(faq_question(language=language))
    found["faq"] = axe_violations(b.page)
    show_comparison(b, language)
    found["table"] = axe_violations(b.page)
    b.say(CRISIS if language == "en" else CRISIS_ES)
    found["crisis"] = axe_violations(b.page)
    # What was checked is the widget in that language, answered in it.
    assert b.page.locator(".kaid-root").get_attribute("lang") == language
    assert b.page.locator(".kaid-crisis-card").get_attribute("lang") == language
    suffix = "" if language == "en" else "-es"
    problems = {}
    for state, violations in found.items():
        record_axe(f"live-{viewport}-{state}{suffix}", violations)
        if serious(violations):
            problems[state] = serious(violations)
    print(viewport, language, {state: summary(v) for state, v in found.items()})
    assert not problems, problems
    b.check_clean()


# ---------------------------------------------------------------- Spanish
def sent_languages(b) -> list:
    """metadata.language of every message the page posted to the bot."""
    return [m.get("metadata", {}).get("language") for m in b.posted if m["message"] != "/restart"]


def record_posts(b) -> None:
    b.posted = []

    def on_request(request) -> None:
        if request.url == b.site.webhook and request.method == "POST":
            b.posted.append(json.loads(request.post_data))

    b.page.on("request", on_request)


def test_a_whole_spanish_conversation_on_a_phone(phone):
    """The Spanish page at 360 px: greeting, a Spanish FAQ answer, the comparison
    table and the crisis card, all in Spanish, with Spanish lang attributes."""
    page = phone.page
    record_posts(phone)
    page.goto(phone.site.es)
    assert phone.horizontal_overflow() == 0
    phone.launcher.click()
    phone.panel.wait_for(state="visible")
    root = page.locator(".kaid-root")
    assert root.get_attribute("lang") == "es"
    assert "¡Hola!" in page.locator(".kaid-greeting").inner_text()
    assert "Antes de empezar" in page.locator(".kaid-disclaimer").inner_text()
    phone.shot("live-phone-open-es")

    question = faq_question(language="es")
    phone.say(question)
    text = all_text(phone)
    assert answer_text(f"utter_faq/{FAQ_KEY}", "es") in text
    # The widget's own disclaimer, in Spanish; the bot does not repeat it.
    assert "asistente automático" in page.locator(".kaid-disclaimer").inner_text()
    assert "asistente automático" not in text
    bubbles = page.locator(".kaid-bot:not(.kaid-greeting) .kaid-bubble")
    assert set(bubbles.evaluate_all("els => els.map(e => e.lang)")) == {"es"}
    assert page.locator(".kaid-user .kaid-bubble").last.get_attribute("lang") == "es"
    assert phone.horizontal_overflow() == 0
    phone.shot("live-phone-faq-es")

    show_comparison(phone, "es")
    card = page.locator(".kaid-table-wrap").last
    assert card.get_attribute("lang") == "es"
    assert "Fuentes:" in card.inner_text() and "Última revisión:" in card.inner_text()
    assert card.locator("details summary").inner_text() == "Ver como texto"
    assert card.locator("thead th[scope=col]").count() >= 3
    assert phone.horizontal_overflow() == 0
    card.locator("caption").scroll_into_view_if_needed()
    phone.shot("live-phone-table-es")

    phone.say(CRISIS_ES)
    crisis = page.locator(".kaid-crisis-card")
    assert crisis.count() == 1 and crisis.is_visible()
    assert crisis.get_attribute("lang") == "es"
    for href, label in (
        ("tel:988", "Llamar al 988"),
        ("sms:988", "Mensaje al 988"),
        ("tel:911", "Llamar al 911"),
    ):
        action = crisis.locator(f"a.kaid-action[href='{href}']")
        assert action.is_visible() and action.inner_text() == label, href
    assert "marca 2 para español" in crisis.inner_text()
    assert phone.horizontal_overflow() == 0
    phone.shot("live-phone-crisis-es")
    # Everything went to the bot saying Spanish; the interface stayed Spanish.
    assert sent_languages(phone) and set(sent_languages(phone)) == {"es"}
    assert root.get_attribute("lang") == "es"
    phone.check_clean()


def test_the_switch_makes_the_bot_answer_in_spanish(desk):
    """On the English page, ES makes a message that shows no language ("Spravato")
    answered in Spanish, and EN back in English."""
    page = desk.page
    record_posts(desk)
    desk.open()
    page.locator(".kaid-lang-btn[data-kaid-lang='es']").click()
    assert page.locator(".kaid-root").get_attribute("lang") == "es"
    desk.say("Spravato")
    assert answer_text("utter_faq/what_is_spravato", "es") in all_text(desk)
    last = page.locator(".kaid-bot:not(.kaid-greeting) .kaid-bubble").last
    assert last.get_attribute("lang") == "es"
    page.locator(".kaid-lang-btn[data-kaid-lang='en']").click()
    desk.say("Spravato")
    assert answer_text("utter_faq/what_is_spravato", "en")[:60] in last_bot_text(desk)
    assert sent_languages(desk) == ["es", "en"]
    assert page.locator(".kaid-root").get_attribute("lang") == "en"
    desk.check_clean()


# ---------------------------------------------------------------- CORS
def _preflight(url: str, origin: str):
    req = urllib.request.Request(
        url,
        method="OPTIONS",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers
    except urllib.error.HTTPError as err:
        return err.code, err.headers


def _post(url: str, origin: str):
    req = urllib.request.Request(
        url,
        method="POST",
        data=json.dumps({"sender": "cors-check", "message": "hi"}).encode(),
        headers={"Origin": origin, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.status, resp.headers


def test_cors_allows_only_the_configured_site(live):
    _, headers = _preflight(live.webhook, live.base)
    assert headers.get("Access-Control-Allow-Origin") == live.base
    for other in ("http://evil.example", "http://127.0.0.1:1", "null"):
        _, headers = _preflight(live.webhook, other)
        assert headers.get("Access-Control-Allow-Origin") in (None, ""), other
        _, headers = _post(live.webhook, other)
        assert headers.get("Access-Control-Allow-Origin") in (None, ""), other
    _, headers = _post(live.webhook, live.base)
    assert headers.get("Access-Control-Allow-Origin") == live.base


def test_a_site_not_allowed_by_cors_gets_the_offline_message(make_browser, live):
    """The same page from another origin: the browser blocks the replies."""
    server, base = serve_in_thread(bot_url=live.bot)
    try:
        b = make_browser(Site(base=base, bot=live.bot), DESKTOP)
        b.open()
        b.say(faq_question())
        notice = b.page.locator(".kaid-notice")
        assert notice.is_visible()
        assert "(555) 010-0199" in notice.inner_text()
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- privacy
def stored_rows(site: Site, sender: str) -> int:
    import sqlite3

    with sqlite3.connect(site.tracker_db) as connection:
        return connection.execute(
            "select count(*) from events where sender_id = ?", (sender,)
        ).fetchone()[0]


def test_delete_this_conversation_deletes_it_on_the_real_server(desk):
    desk.open()
    desk.say(faq_question())
    sender = desk.page.evaluate("() => window.KetamineAidWidget.senderId()")
    assert stored_rows(desk.site, sender) > 0
    desk.page.locator("button.kaid-delete").click()
    desk.page.locator("[data-kaid-deleted]").wait_for()
    assert stored_rows(desk.site, sender) == 0
    assert desk.page.evaluate("() => window.KetamineAidWidget.senderId()") != sender
    assert desk.page.locator(".kaid-user").count() == 0
    desk.check_clean()  # the cross-origin DELETE passed CORS: no console error


def test_start_over_deletes_the_old_conversation_on_the_real_server(desk):
    desk.open()
    desk.say(faq_question())
    sender = desk.page.evaluate("() => window.KetamineAidWidget.senderId()")
    desk.page.locator(".kaid-restart").click()
    desk.page.wait_for_function(
        "() => !(JSON.parse(sessionStorage.getItem("
        "Object.keys(sessionStorage).find(k => k.startsWith('kaid:v1:'))))"
        ".pendingDeletes || []).length"
    )
    assert stored_rows(desk.site, sender) == 0
    desk.check_clean()


def test_cors_lets_only_the_configured_site_delete(live):
    url = f"{live.bot}/webhooks/rest/conversations/cors-check"
    req = urllib.request.Request(
        url,
        method="OPTIONS",
        headers={"Origin": live.base, "Access-Control-Request-Method": "DELETE"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers.get("Access-Control-Allow-Origin") == live.base
        assert "DELETE" in (resp.headers.get("Access-Control-Allow-Methods") or "")
    req = urllib.request.Request(
        url,
        method="OPTIONS",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "DELETE"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers.get("Access-Control-Allow-Origin") in (None, "")
