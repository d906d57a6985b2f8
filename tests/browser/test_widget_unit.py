"""The widget in headless Chromium against a MOCK bot (Playwright routing).

These tests need no trained model: each one scripts the bot's replies. They
cover rendering, page safety, offline handling, storage and accessibility; the
same behaviour is checked against the real bot in test_widget_live.py.
"""

from __future__ import annotations

import re
import urllib.request

import pytest

from bot.content import answers, clinic_profile, raw_responses, system_message
from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    MockBot,
    axe_violations,
    record_axe,
    serious,
    summary,
)

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=alert(1)><script>alert(2)</script>"
TABLE = {
    "type": "comparison_table",
    "title": "How the options compare",
    "columns": ["", "IV ketamine", "Spravato", "Compounded ketamine"],
    "rows": [
        [
            "What it is",
            "Ketamine given slowly into a vein.",
            "A nasal spray made from ketamine.",
            "Ketamine made into lozenges or tablets.",
        ],
        [
            "FDA status",
            "Off-label for mental health.",
            "FDA-approved for some depression.",
            "Not FDA-approved for mental health.",
        ],
        [
            "Where",
            "In a clinic, with staff watching.",
            "In a certified clinic, then watched.",
            "Varies; sometimes at home.",
        ],
    ],
    "note": "General information only. Your clinician can help you weigh the options.",
}


def decision_aid_reply(name: str, language: str = "en"):
    """One real decision-aid reply, as the REST channel sends it: text+buttons, then custom."""
    from bot.decision_aid import load

    reply = dict(load(language=language).all_replies())[name]
    first = {"text": reply.text}
    if reply.buttons:
        first["buttons"] = reply.buttons
    return reply, [first, {"custom": reply.payload}]


def crisis_text(language: str = "en") -> str:
    return next(a.text for a in answers() if a.name == "utter_crisis" and a.language == language)


@pytest.fixture
def desk(make_browser, mock_site):
    b = make_browser(mock_site, DESKTOP)
    b.bot = MockBot(b.page, mock_site)
    return b


@pytest.fixture
def phone(make_browser, mock_site):
    b = make_browser(mock_site, PHONE, is_mobile=True, has_touch=True)
    b.bot = MockBot(b.page, mock_site)
    return b


# ---------------------------------------------------------------- basics
def test_one_script_tag_builds_launcher_and_closed_panel(desk):
    desk.page.goto(desk.site.demo)
    assert desk.page.locator("script[src$='widget.js']").count() == 1
    assert desk.launcher.is_visible()
    assert desk.launcher.get_attribute("aria-expanded") == "false"
    assert desk.panel.is_hidden()
    desk.check_clean()


def test_open_shows_disclaimer_and_crisis_links_before_any_message(desk):
    desk.open()
    assert desk.launcher.get_attribute("aria-expanded") == "true"
    assert desk.page.evaluate("document.activeElement.id") == "kaid-input"
    disclaimer = desk.page.locator(".kaid-disclaimer")
    assert disclaimer.is_visible()
    text = disclaimer.inner_text()
    for phrase in ("automated assistant", "educational", "not medical advice", "988"):
        assert phrase in text
    bar = desk.page.locator(".kaid-crisis-bar")
    assert bar.is_visible() and "In crisis? Call or text 988" in bar.inner_text()
    assert bar.locator("a[href='tel:988']").is_visible()
    assert bar.locator("a[href='sms:988']").is_visible()
    assert desk.bot.received == []  # nothing sent until the visitor writes
    desk.shot("unit-desktop-open")
    desk.check_clean()


def test_escape_closes_and_returns_focus_to_launcher(desk):
    desk.open()
    desk.input.press("Escape")
    assert desk.panel.is_hidden()
    assert desk.page.evaluate("document.activeElement.classList.contains('kaid-launcher')")
    desk.page.keyboard.press("Enter")  # the launcher has focus: Enter reopens
    assert desk.panel.is_visible()
    desk.page.locator(".kaid-close").click()
    assert desk.panel.is_hidden()
    assert desk.page.evaluate("document.activeElement.classList.contains('kaid-launcher')")


# ---------------------------------------------------------------- page safety
def test_server_and_user_text_never_become_html(desk):
    desk.bot.queue(
        {"text": "Reply " + XSS},
        {"buttons": [{"title": XSS, "payload": "x"}], "text": "pick"},
        {"custom": dict(TABLE, title=XSS, columns=["", XSS], rows=[[XSS, XSS]], note=XSS)},
    )
    desk.open()
    desk.say(XSS)
    root = desk.page.locator(".kaid-root")
    assert root.locator("img, script:not([src])").count() == 0
    assert desk.page.locator(".kaid-user .kaid-bubble").last.inner_text() == XSS
    assert XSS in desk.page.locator(".kaid-bot:not(.kaid-greeting) .kaid-bubble").first.inner_text()
    assert desk.page.locator(".kaid-quick-btn").first.inner_text() == XSS
    assert XSS in desk.page.locator(".kaid-table caption").inner_text()
    desk.page.wait_for_timeout(300)
    assert desk.bot.received[0]["message"] == XSS
    desk.check_clean()  # no alert dialog, no console error, no CSP violation


def test_links_are_safe_and_limited_to_http_https_tel_sms(desk):
    desk.bot.queue(
        {
            "text": (
                "Book at https://example.org/book. Chat at 988lifeline.org or call (555) 010-0199. "
                "Poison Help: 1-800-222-1222. Not a link: javascript:alert(1) data:text/html,x"
            )
        }
    )
    desk.open()
    desk.say("links")
    anchors = desk.page.locator(".kaid-messages a")
    hrefs = anchors.evaluate_all("els => els.map(a => [a.href, a.target, a.rel])")
    assert ["https://example.org/book", "_blank", "noopener noreferrer"] in hrefs
    assert ["https://988lifeline.org/", "_blank", "noopener noreferrer"] in hrefs
    assert ["tel:5550100199", "", "noopener noreferrer"] in hrefs
    assert ["tel:18002221222", "", "noopener noreferrer"] in hrefs
    assert len(hrefs) == 4
    safe = desk.page.evaluate(
        """() => ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', ' javascript:x', 'data:text/html,x',
                  'vbscript:x', 'file:///etc/passwd', 'blob:x', '/relative', 'https://ok.example/a',
                  'tel:988', 'sms:988'].map(u => window.KetamineAidWidget.safeHref(u))"""
    )
    assert safe[:8] == [None] * 8
    assert safe[8:] == ["https://ok.example/a", "tel:988", "sms:988"]
    # Every link anywhere in the widget is http(s)/tel/sms and has rel=noopener noreferrer.
    every = desk.page.locator(".kaid-root a").evaluate_all(
        "els => els.map(a => [a.protocol, a.rel])"
    )
    assert every and all(
        p in ("http:", "https:", "tel:", "sms:") and r == "noopener noreferrer" for p, r in every
    )


# ---------------------------------------------------------------- crisis
def test_crisis_detection_matches_exactly_the_crisis_replies(desk):
    """Every reviewed response: only utter_crisis (both languages) is shown as the crisis card."""
    desk.page.goto(desk.site.demo)
    all_answers = answers()
    flags = desk.page.evaluate(
        "texts => texts.map(t => window.KetamineAidWidget.isCrisisText(t))",
        [a.text for a in all_answers],
    )
    wrong = [
        a.name
        for a, flag in zip(all_answers, flags, strict=True)
        if flag != (a.name == "utter_crisis")
    ]
    assert not wrong, f"crisis card detection is wrong for: {wrong}"
    assert sum(flags) >= 2  # English and Spanish variants


def crisis_replies(language: str = "en"):
    """utter_crisis as the REST channel sends it: its text, then its custom payload."""
    variant = next(
        v
        for v in raw_responses()["utter_crisis"]
        if (v.get("metadata") or {}).get("language", "en") == language
    )
    return [{"text": crisis_text(language)}, {"custom": variant["custom"]}]


def test_a_reply_marked_crisis_is_the_crisis_card_whatever_its_text(desk):
    # The mark decides, not the wording: a text the text check would not
    # recognise is still the card, and the mark joins its text (one message).
    desk.bot.queue({"text": "Please call or text 988 now."}, {"custom": {"type": "crisis"}})
    desk.open()
    desk.say("crisis")
    card = desk.page.locator(".kaid-crisis-card")
    assert card.count() == 1 and "Please call or text 988 now." in card.inner_text()
    assert desk.page.locator(".kaid-bot:not(.kaid-greeting) .kaid-bubble").count() == 0
    desk.page.wait_for_function(
        "() => document.querySelector('#kaid-alert').textContent.includes('988')"
    )
    assert not desk.page.evaluate(
        "t => window.KetamineAidWidget.isCrisisText(t)", "Please call or text 988 now."
    )
    desk.check_clean()


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_crisis_reply_as_the_bot_sends_it_is_one_card(phone, language):
    phone.bot.queue(*crisis_replies(language))
    phone.open()
    phone.say("crisis")
    assert phone.page.locator(".kaid-crisis-card").count() == 1
    assert phone.page.locator(".kaid-bot:not(.kaid-greeting) .kaid-bubble").count() == 0
    phone.check_clean()


@pytest.mark.parametrize("language", ["en", "es"])
def test_crisis_reply_is_a_card_with_call_and_text_actions(phone, language):
    phone.bot.queue({"text": crisis_text(language)})
    phone.open()
    phone.say("crisis")
    card = phone.page.locator(".kaid-crisis-card")
    assert card.count() == 1 and card.is_visible()
    for href in ("tel:988", "sms:988", "tel:911"):
        action = card.locator(f"a.kaid-action[href='{href}']")
        assert action.is_visible(), href
        box = action.bounding_box()
        assert box["height"] >= 44  # a comfortable tap target
    assert "988" in card.inner_text()
    # Announced assertively for screen readers.
    phone.page.wait_for_function(
        "() => document.querySelector('#kaid-alert').textContent.includes('988')"
    )
    assert phone.horizontal_overflow() == 0
    phone.shot(f"unit-phone-crisis-{language}")
    phone.check_clean()


# ---------------------------------------------------------------- rendering
def test_comparison_table_is_a_real_table_and_fits_a_phone(phone):
    reply, messages = decision_aid_reply("table")
    payload = reply.payload
    phone.bot.queue(*messages)
    phone.open()
    assert phone.page.locator(".kaid-disclaimer").is_visible()
    assert phone.horizontal_overflow() == 0
    phone.shot("unit-phone-open")
    phone.say("compare my options")
    table = phone.page.locator("table.kaid-table")
    assert table.count() == 1
    assert table.locator("caption .kaid-table-title").inner_text() == payload["title"]
    assert table.locator("caption .kaid-table-intro").inner_text() == payload["intro"]
    assert table.locator("thead th[scope=col]").all_inner_texts() == payload["columns"]
    assert table.locator("tbody th[scope=row]").all_inner_texts() == [r[0] for r in payload["rows"]]
    assert table.locator("tbody td").count() == sum(len(r) - 1 for r in payload["rows"])
    assert payload["rows"][1][1] in table.inner_text()
    card = phone.page.locator(".kaid-table-wrap")
    assert payload["intro"] in card.inner_text()
    if payload["note"]:
        assert payload["note"] in card.inner_text()
    assert "Last reviewed" in card.inner_text() and "Sources:" in card.inner_text()
    # The plain-text twin is not shown twice: it is folded under "Show as text".
    details = card.locator("details.kaid-text-version")
    assert details.count() == 1 and details.get_attribute("open") is None
    assert (
        phone.page.locator(
            ".kaid-bot:not(.kaid-greeting):not(.kaid-bot-table) .kaid-bubble"
        ).count()
        == 0
    )
    # Its buttons follow the table.
    assert phone.page.locator(".kaid-quick-btn").all_inner_texts() == [
        b["title"] for b in reply.buttons
    ]
    # Accessible table structure survives the stacked phone layout.
    roles = table.evaluate(
        "t => [t.getAttribute('role'), t.querySelector('td').getAttribute('role')]"
    )
    assert roles == ["table", "cell"]
    assert phone.horizontal_overflow() == 0
    phone.shot("unit-phone-table")
    phone.page.locator(".kaid-log").evaluate("l => l.scrollTop = l.scrollHeight")
    phone.shot("unit-phone-table-end")
    phone.check_clean()


@pytest.mark.parametrize("prefix", ["topic:", "table:", "values:", "troubleshooting:"])
def test_every_kind_of_decision_aid_table_fits_a_phone(phone, prefix):
    """The longest table of each kind the decision aid sends, on a 360 px screen."""
    from bot.decision_aid import load

    tables = [
        (n, r)
        for n, r in load().all_replies()
        if n.startswith(prefix) and r.payload.get("type") == "comparison_table"
    ]
    assert tables, f"no decision-aid table named {prefix}*"
    name = max(tables, key=lambda item: len(str(item[1].payload)))[0]
    reply, messages = decision_aid_reply(name)
    phone.bot.queue(*messages)
    phone.open()
    phone.say("show me")
    table = phone.page.locator("table.kaid-table")
    assert table.count() == 1
    assert table.locator("tbody tr").count() == len(reply.payload["rows"])
    assert phone.horizontal_overflow() == 0
    phone.check_clean()


def test_summary_and_question_payloads_keep_their_text(desk):
    from bot.decision_aid import load

    replies = dict(load().all_replies())
    question = next(r for n, r in replies.items() if n.startswith("checklist_question:"))
    summary = next(r for n, r in replies.items() if r.payload.get("type") == "summary")
    desk.bot.queue(
        {"text": question.text, "buttons": question.buttons}, {"custom": question.payload}
    )
    desk.bot.queue({"text": summary.text}, {"custom": summary.payload})
    desk.open()
    desk.say("checklist")
    bubble = desk.page.locator(".kaid-bot:not(.kaid-greeting) .kaid-bubble").last
    assert question.payload["text"].split("\n")[-1] in bubble.inner_text()
    assert (
        f"Question {question.payload['step']} of {question.payload['steps']}" in bubble.inner_text()
    )
    assert desk.page.locator(".kaid-quick-btn").count() == len(question.buttons)
    desk.say("summary")
    bubble = desk.page.locator(".kaid-bot:not(.kaid-greeting) .kaid-bubble").last
    assert summary.payload["title"] in bubble.inner_text()
    assert bubble.locator("button.kaid-copy").is_visible()
    desk.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    bubble.locator("button.kaid-copy").click()
    assert desk.page.evaluate("() => navigator.clipboard.readText()") == summary.text
    desk.check_clean()


def test_expanded_desktop_panel_shows_a_grid_table(desk):
    _, messages = decision_aid_reply("table")
    desk.bot.queue(*messages)
    desk.open()
    desk.say("compare")
    desk.page.locator(".kaid-expand").click()
    assert desk.page.locator(".kaid-expand").get_attribute("aria-pressed") == "true"
    display = desk.page.locator("table.kaid-table").evaluate("t => getComputedStyle(t).display")
    assert display == "table"
    assert desk.page.locator("table.kaid-table thead").is_visible()
    assert desk.horizontal_overflow() == 0
    desk.page.locator("table.kaid-table").scroll_into_view_if_needed()
    desk.shot("unit-desktop-table-expanded")
    desk.page.locator(".kaid-expand").click()
    desk.page.locator("table.kaid-table").scroll_into_view_if_needed()
    desk.shot("unit-desktop-table")


def test_quick_replies_send_payload_and_show_title(desk):
    desk.bot.queue(
        {
            "text": "Pick one",
            "buttons": [
                {"title": "Side effects", "payload": "What are the side effects of ketamine?"},
                {"title": "Cost", "payload": "/clinic_contact"},
            ],
        }
    )
    desk.open()
    desk.say("hi")
    buttons = desk.page.locator(".kaid-quick-btn")
    assert buttons.all_inner_texts() == ["Side effects", "Cost"]
    before = desk.bot_count()
    buttons.first.click()
    desk.wait_reply(before)
    assert desk.bot.received[-1]["message"] == "What are the side effects of ketamine?"
    assert desk.page.locator(".kaid-user .kaid-bubble").last.inner_text() == "Side effects"
    # Old quick replies are gone once answered.
    assert desk.page.locator(".kaid-quick-btn", has_text="Cost").count() == 0


def test_typing_indicator_while_waiting(desk):
    desk.page.route(desk.site.webhook, lambda route: None)  # never answers
    desk.open()
    desk.input.fill("hello")
    desk.input.press("Enter")
    typing = desk.page.locator(".kaid-typing")
    typing.wait_for(state="visible")
    assert "typing" in typing.inner_text(timeout=1000) or typing.locator(".kaid-sr").count() == 1
    assert desk.page.locator(".kaid-log").get_attribute("aria-busy") == "true"


def test_reduced_motion_stops_animations(make_browser, mock_site):
    b = make_browser(mock_site, DESKTOP, reduced_motion="reduce")
    b.page.route(mock_site.webhook, lambda route: None)
    b.open()
    b.input.fill("hello")
    b.input.press("Enter")
    dot = b.page.locator(".kaid-dots span").first
    dot.wait_for()
    assert dot.evaluate("d => getComputedStyle(d).animationName") == "none"
    assert b.panel.evaluate("p => getComputedStyle(p).animationName") == "none"


# ---------------------------------------------------------------- offline
def test_unreachable_server_shows_phone_and_retry(desk):
    desk.bot.fail = True
    desk.open()
    desk.say("How long is a session?")
    notice = desk.page.locator(".kaid-notice")
    assert notice.is_visible()
    text = notice.inner_text()
    assert "can't be reached" in text and "(555) 010-0199" in text and "988" in text
    assert clinic_profile()["clinic_hours"] in text  # from the page, filled from the profile
    assert notice.locator("a[href='tel:5550100199']").count() == 1
    desk.page.wait_for_function(
        "() => document.querySelector('#kaid-alert').textContent.includes('(555) 010-0199')"
    )
    desk.shot("unit-desktop-offline")
    # Retry resends the same message once the server is back.
    desk.bot.fail = False
    desk.bot.queue({"text": "A session takes about an hour (mock)."})
    before = desk.bot_count()
    notice.locator("button.kaid-retry").click()
    desk.wait_reply(before)
    assert desk.page.locator(".kaid-notice").count() == 0
    assert desk.bot.received[-1]["message"] == "How long is a session?"
    assert desk.page.locator(".kaid-user").count() == 1  # not duplicated
    assert "(mock)" in desk.page.locator(".kaid-bot .kaid-bubble").last.inner_text()


# ---------------------------------------------------------------- memory
def test_history_survives_reload_and_other_pages_and_start_over_resets(desk):
    desk.bot.queue({"text": "First answer."})
    desk.open()
    desk.say("first question")
    sender = desk.bot.received[0]["sender"]
    desk.page.reload()
    assert desk.panel.is_visible()  # stays open across pages of the site
    assert desk.page.locator(".kaid-user .kaid-bubble").all_inner_texts() == ["first question"]
    assert "First answer." in desk.page.locator(".kaid-messages").inner_text()
    desk.page.goto(desk.site.about)
    assert desk.page.locator(".kaid-user .kaid-bubble").all_inner_texts() == ["first question"]
    desk.say("second question")
    assert desk.bot.received[-1]["sender"] == sender
    # Start over: history cleared, server told to /restart the old id, new id.
    desk.page.locator(".kaid-restart").click()
    desk.page.wait_for_timeout(300)
    assert desk.page.locator(".kaid-user").count() == 0
    assert desk.page.locator(".kaid-disclaimer").is_visible()
    assert {"sender": sender, "message": "/restart"} in desk.bot.received
    desk.say("third question")
    assert desk.bot.received[-1]["sender"] != sender
    desk.page.reload()
    assert desk.page.locator(".kaid-user .kaid-bubble").all_inner_texts() == ["third question"]


def test_conversation_is_per_tab_session(make_browser, mock_site):
    b = make_browser(mock_site, DESKTOP)
    MockBot(b.page, mock_site)
    b.open()
    b.say("hello")
    other = b.page.context.new_page()  # a new tab: sessionStorage is per tab
    other.goto(mock_site.demo)
    other.locator(".kaid-launcher").click()
    assert other.locator(".kaid-user").count() == 0


# ---------------------------------------------------------------- keyboard
def test_whole_exchange_with_keyboard_only(desk):
    desk.bot.queue(
        {"text": "Pick one", "buttons": [{"title": "Side effects", "payload": "side effects?"}]}
    )
    desk.bot.queue({"text": "Side effects answer (mock)."})
    page = desk.page
    page.goto(desk.site.demo)
    launcher_reached = False
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('kaid-launcher')"):
            launcher_reached = True
            break
    assert launcher_reached, "Tab never reached the launcher"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "kaid-input"
    page.keyboard.type("hello")
    before = desk.bot_count()
    page.keyboard.press("Enter")
    desk.wait_reply(before)
    # Shift+Tab from the input reaches the quick reply; Space chooses it.
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.textContent") == "Side effects"
    focus_style = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focus_style != "none"  # visible focus
    before = desk.bot_count()
    page.keyboard.press("Space")
    desk.wait_reply(before)
    assert "Side effects answer" in page.locator(".kaid-messages").inner_text()
    assert desk.bot.received[-1]["message"] == "side effects?"
    # The chosen button is gone; focus went on to the message box, not the page.
    assert page.evaluate("() => document.activeElement.id") == "kaid-input"
    page.keyboard.press("Escape")
    assert desk.panel.is_hidden()
    assert page.evaluate("document.activeElement.classList.contains('kaid-launcher')")


# ---------------------------------------------------------------- colours
def test_configured_colour_keeps_text_contrast(make_browser, mock_site):
    b = make_browser(mock_site, DESKTOP)
    # Serve a variant of the sample page with a very light brand colour.
    with urllib.request.urlopen(mock_site.demo) as resp:
        html = resp.read().decode()
    html = html.replace('data-color="#1d5d6b"', 'data-color="#ffe14d"')
    variant = mock_site.base + "/demo/light.html"
    b.page.route(
        variant, lambda route: route.fulfill(status=200, content_type="text/html", body=html)
    )
    b.open(variant)
    colors = b.page.locator(".kaid-header").evaluate(
        "h => [getComputedStyle(h).backgroundColor, getComputedStyle(h).color]"
    )
    assert colors == ["rgb(255, 225, 77)", "rgb(17, 17, 17)"]
    ink = b.page.locator(".kaid-root").evaluate(
        "r => r.style.getPropertyValue('--kaid-accent-ink')"
    )
    assert ink != "#ffe14d"  # darkened for text on white


# ---------------------------------------------------------------- accessibility
@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("viewport_name", ["desktop", "phone"])
def test_axe_no_serious_violations_in_main_states(make_browser, mock_site, viewport_name, language):
    viewport = DESKTOP if viewport_name == "desktop" else PHONE
    b = make_browser(mock_site, viewport)
    bot = MockBot(b.page, mock_site)
    b.page.goto(mock_site.demo if language == "en" else mock_site.es)
    found = {"closed": axe_violations(b.page)}
    b.launcher.click()
    found["open"] = axe_violations(b.page)
    bot.queue(*decision_aid_reply("table", language)[1])
    b.say("compare")
    found["table"] = axe_violations(b.page)
    bot.queue({"text": crisis_text(language)})
    b.say("crisis")
    found["crisis"] = axe_violations(b.page)
    bot.fail = True
    b.say("offline")
    found["offline"] = axe_violations(b.page)
    # The language checked is the one shown, to the end.
    assert b.page.locator(".kaid-root").get_attribute("lang") == language
    suffix = "" if language == "en" else "-es"
    problems = {}
    for state, violations in found.items():
        record_axe(f"unit-{viewport_name}-{state}{suffix}", violations)
        if serious(violations):
            problems[state] = serious(violations)
    print(language, {state: summary(v) for state, v in found.items()})
    assert not problems, problems


# ---------------------------------------------------------------- privacy
def test_privacy_notice_comes_before_the_first_message(phone):
    phone.open()
    notice = phone.page.locator(".kaid-disclaimer")
    text = notice.inner_text()
    for phrase in (
        "automated assistant",
        "not for emergencies",
        "988",
        "911",
        "keeps this chat",
        "30 days",
        "Then it is deleted",
        "Delete this conversation",
    ):
        assert phrase in text, phrase
    first_message = phone.page.locator(".kaid-messages")
    assert notice.bounding_box()["y"] < first_message.bounding_box()["y"]
    button = phone.page.locator("button.kaid-delete")
    assert button.is_visible() and button.inner_text() == "Delete this conversation"
    assert phone.horizontal_overflow() == 0
    phone.shot("unit-phone-privacy")
    phone.check_clean()


def test_delete_this_conversation_deletes_it_on_the_server_and_here(desk):
    desk.bot.queue({"text": "First answer."})
    desk.open()
    desk.say("my private question")
    sender = desk.bot.received[0]["sender"]
    desk.page.locator("button.kaid-delete").click()
    desk.page.locator("[data-kaid-deleted]").wait_for()
    assert desk.bot.deleted == [sender]
    assert desk.page.locator(".kaid-user").count() == 0
    assert "my private question" not in desk.page.locator(".kaid-root").inner_text()
    new_sender = desk.page.evaluate("() => window.KetamineAidWidget.senderId()")
    assert new_sender != sender
    stored = desk.page.evaluate("() => JSON.stringify(Object.assign({}, sessionStorage))")
    assert "my private question" not in stored and sender not in stored
    desk.page.reload()
    assert desk.page.locator(".kaid-user").count() == 0
    desk.check_clean()


def test_a_failed_delete_says_so_and_keeps_the_conversation(desk):
    desk.bot.queue({"text": "First answer."})
    desk.open()
    desk.say("my private question")
    sender = desk.bot.received[0]["sender"]
    desk.bot.fail = True
    desk.page.locator("button.kaid-delete").click()
    notice = desk.page.locator(".kaid-notice")
    notice.wait_for()
    assert "could not be deleted" in notice.inner_text()
    assert desk.page.locator(".kaid-user .kaid-bubble").all_inner_texts() == ["my private question"]
    assert desk.bot.deleted == []
    desk.bot.fail = False
    desk.page.locator("button.kaid-delete").click()
    desk.page.locator("[data-kaid-deleted]").wait_for()
    assert desk.bot.deleted == [sender]


def test_start_over_deletes_the_old_conversation_and_retries_when_offline(desk):
    desk.bot.queue({"text": "First answer."})
    desk.open()
    desk.say("first question")
    first = desk.bot.received[0]["sender"]
    desk.page.locator(".kaid-restart").click()
    desk.page.wait_for_function("() => true")
    desk.page.wait_for_timeout(300)
    assert desk.bot.deleted == [first]
    # Offline at "Start over": the deletion waits and is sent with the next answer.
    desk.say("second question")
    second = desk.bot.received[-1]["sender"]
    desk.bot.fail = True
    desk.page.locator(".kaid-restart").click()
    desk.page.wait_for_timeout(300)
    assert second not in desk.bot.deleted
    desk.page.reload()  # the pending deletion survives a reload
    desk.bot.fail = False
    desk.say("third question")
    desk.page.wait_for_timeout(300)
    assert desk.bot.deleted == [first, second]


# ---------------------------------------------------------------- languages
def widget_strings(b):
    return b.page.evaluate("() => window.KetamineAidWidget.strings()")


def interface_text(b) -> str:
    """Every text of the widget a person sees or hears (not the bot's own words):
    the visible and screen-reader-only text, and the labels, titles and placeholders."""
    return b.page.evaluate(
        """() => {
            const root = document.querySelector('.kaid-root').cloneNode(true);
            root.querySelectorAll('.kaid-bot:not(.kaid-greeting) .kaid-bubble > :not(.kaid-step)'
                                  + ':not(.kaid-copy), .kaid-user .kaid-bubble, .kaid-crisis-text,'
                                  + ' .kaid-table, .kaid-table-note, .kaid-text-version-body,'
                                  + ' .kaid-quick-btn, .kaid-lang-btn')
                .forEach(n => n.remove());
            root.querySelectorAll('.kaid-bot:not(.kaid-greeting) .kaid-bubble').forEach(n => {
                for (const c of [...n.childNodes]) if (c.nodeType === 3) c.remove();
            });
            const attrs = [...root.querySelectorAll('*')].flatMap(e =>
                ['aria-label', 'title', 'placeholder'].map(a => e.getAttribute(a)).filter(Boolean));
            return root.textContent + '\\n' + attrs.join('\\n');
        }"""
    )


def fragments(strings) -> set:
    """The literal pieces (without {placeholders}) of every interface string, 6+ letters."""
    out = set()
    for key, value in strings.items():
        if key == "languageName":  # each language's own name is on the switch, in both
            continue
        for text in value if isinstance(value, list) else [value]:
            for piece in re.split(r"\{\w+\}|\|", text):
                piece = piece.strip(" .,()")
                if len(piece) >= 6:
                    out.add(piece)
    return out


def english_left(b) -> list:
    """English interface strings shown in a widget that should be all Spanish."""
    shown = interface_text(b)
    return sorted(f for f in fragments(widget_strings(b)["en"]) if f in shown)


def test_both_languages_have_every_interface_string(desk):
    desk.page.goto(desk.site.demo)
    strings = widget_strings(desk)
    assert set(strings) == {"en", "es"}
    en, es = strings["en"], strings["es"]
    assert sorted(en) == sorted(es), set(en) ^ set(es)
    for key in en:
        assert type(en[key]) is type(es[key]) and en[key] and es[key], key
        assert en[key] != es[key], f"{key} is not translated"
        # the same {placeholders} in both languages (in any order)
        assert sorted(re.findall(r"\{\w+\}", str(en[key]))) == sorted(
            re.findall(r"\{\w+\}", str(es[key]))
        ), key
    assert len(en["months"]) == len(es["months"]) == 12
    assert es["crisisBar"] == "¿En crisis? Llama o envía un mensaje de texto al 988"
    for key in ("crisisBar", "call988", "text988", "emergencyStart", "offlineCrisis"):
        assert "988" in es[key], key
    for key in ("call911", "emergencyEnd", "offlineCrisis"):
        assert "911" in es[key], key
    # "tu", never "usted": the informal verb forms of the table, not the formal ones
    spanish = " ".join(v if isinstance(v, str) else " ".join(v) for v in es.values())
    assert not re.search(r"\b(usted|llame|escriba|pulse|intente|su pregunta)\b", spanish, re.I)


def reviewed_texts():
    """Every reviewed reply and decision-aid text, with the language it is written in."""
    from bot.decision_aid import load

    texts = [(a.language, a.name, a.text) for a in answers()]
    for language in ("en", "es"):
        for name, reply in load(language=language).all_replies():
            texts.append((language, name, reply.text))
            for key in ("title", "intro"):
                if reply.payload.get(key):
                    texts.append((language, f"{name}:{key}", reply.payload[key]))
            for button in reply.buttons or []:
                texts.append((language, f"{name}:button", button["title"]))
    return texts


def test_every_reviewed_text_is_read_in_its_own_language(desk):
    """The widget's tiny language check (bubble lang, following the conversation):
    every whole reply is read right; a short label is read right or not at all."""
    desk.page.goto(desk.site.demo)
    texts = reviewed_texts()
    found = desk.page.evaluate(
        "texts => texts.map(t => window.KetamineAidWidget.textLanguage(t))",
        [t for _, _, t in texts],
    )
    read = list(zip(texts, found, strict=True))
    wrong = [(lang, name, got) for (lang, name, _), got in read if got not in (lang, None)]
    assert not wrong, wrong
    whole = [
        (lang, name, got)
        for (lang, name, _), got in read
        if not name.endswith((":title", ":intro", ":button"))
    ]
    unread = [(lang, name) for lang, name, got in whole if got != lang]
    assert not unread, unread
    assert sum(1 for lang, _, _ in whole if lang == "es") > 150


def test_data_lang_es_starts_the_widget_in_spanish(phone):
    page = phone.page
    page.goto(phone.site.es)
    root = page.locator(".kaid-root")
    assert root.get_attribute("lang") == "es"
    assert phone.launcher.inner_text() == "¿Preguntas? Chatea con nosotros"
    phone.launcher.click()
    phone.panel.wait_for(state="visible")
    assert (
        page.locator(".kaid-title").inner_text()
        == "Asistente de " + clinic_profile()["clinic_name"]
    )
    bar = page.locator(".kaid-crisis-bar")
    assert "¿En crisis? Llama o envía un mensaje de texto al 988" in bar.inner_text()
    assert bar.locator("a[href='tel:988']").inner_text() == "Llamar al 988"
    assert bar.locator("a[href='sms:988']").inner_text() == "Mensaje al 988"
    disclaimer = page.locator(".kaid-disclaimer").inner_text()
    for phrase in (
        "Antes de empezar",
        "asistente automático",
        "No es consejo médico",
        "no es para emergencias",
        "911",
        "30 días",
        "Borrar esta conversación",
    ):
        assert phrase in disclaimer, phrase
    assert page.locator(".kaid-greeting .kaid-bubble").get_attribute("lang") == "es"
    assert "¡Hola!" in page.locator(".kaid-greeting").inner_text()
    assert page.locator(".kaid-quick-btn").last.inner_text() == "Comparar mis opciones"
    assert phone.input.get_attribute("placeholder") == "Escribe tu pregunta…"
    assert page.locator("label[for='kaid-input']").inner_text() == "Escribe tu pregunta"
    assert page.locator(".kaid-send").inner_text() == "Enviar"
    assert page.locator("button.kaid-delete").inner_text() == "Borrar esta conversación"
    es_button = page.locator(".kaid-lang-btn[data-kaid-lang='es']")
    assert es_button.get_attribute("aria-pressed") == "true"
    assert page.locator(".kaid-lang-btn[data-kaid-lang='en']").get_attribute("aria-pressed") == (
        "false"
    )
    assert page.locator(".kaid-lang").get_attribute("aria-label") == "Idioma"
    assert english_left(phone) == []
    assert phone.horizontal_overflow() == 0
    phone.shot("unit-phone-open-es")
    phone.check_clean()


def test_the_switch_changes_the_interface_the_lang_attributes_and_the_metadata(desk):
    page = desk.page
    desk.bot.queue({"text": "First answer, in English."})
    desk.open()
    desk.say("hello")
    assert desk.bot.received[-1]["metadata"] == {"language": "en", "disclaimer_shown": True}
    root = page.locator(".kaid-root")
    assert root.get_attribute("lang") == "en"
    assert page.locator(".kaid-crisis-bar-text").inner_text() == "In crisis? Call or text 988"
    assert page.locator(".kaid-lang").get_attribute("aria-label") == "Language"
    # Keyboard: Tab from the message box's side reaches the switch; Enter presses ES.
    es_button = page.locator(".kaid-lang-btn[data-kaid-lang='es']")
    es_button.focus()
    assert es_button.get_attribute("aria-pressed") == "false"
    assert es_button.evaluate("b => b.tagName") == "BUTTON"
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    assert es_button.get_attribute("aria-pressed") == "true"
    assert page.locator(".kaid-lang-btn[data-kaid-lang='en']").get_attribute("aria-pressed") == (
        "false"
    )
    assert page.evaluate("() => document.activeElement.dataset.kaidLang") == "es"  # focus stays
    assert root.get_attribute("lang") == "es"
    assert page.locator(".kaid-crisis-bar-text").inner_text() == (
        "¿En crisis? Llama o envía un mensaje de texto al 988"
    )
    assert page.locator(".kaid-restart").inner_text() == "Empezar de nuevo"
    assert desk.input.get_attribute("placeholder") == "Escribe tu pregunta…"
    page.wait_for_function(
        "() => document.querySelector('#kaid-live').textContent.includes('español')"
    )
    # The messages keep the language they are written in.
    assert page.locator(".kaid-user .kaid-bubble").first.get_attribute("lang") == "en"
    assert (
        page.locator(".kaid-bot:not(.kaid-greeting) .kaid-bubble").first.get_attribute("lang")
        == "en"
    )
    assert page.locator(".kaid-user .kaid-sr").first.inner_text() == "Tú dijiste:"
    assert english_left(desk) == []
    desk.shot("unit-desktop-switched-es")
    # The next message says the widget's language now.
    desk.bot.queue({"text": "Respuesta de prueba (mock)."})
    desk.say("ok")
    assert desk.bot.received[-1]["metadata"] == {"language": "es", "disclaimer_shown": True}
    assert page.locator(".kaid-user .kaid-bubble").last.get_attribute("lang") == "es"
    # The choice stays with the conversation: a reload, another page of the site.
    page.reload()
    assert root.get_attribute("lang") == "es"
    page.goto(desk.site.about)
    assert root.get_attribute("lang") == "es"
    # Space on EN switches back.
    en_button = page.locator(".kaid-lang-btn[data-kaid-lang='en']")
    en_button.focus()
    page.keyboard.press("Space")
    assert en_button.get_attribute("aria-pressed") == "true"
    assert root.get_attribute("lang") == "en"
    assert page.locator(".kaid-crisis-bar-text").inner_text() == "In crisis? Call or text 988"
    assert page.locator(".kaid-disclaimer-title").inner_text() == "Before you start"
    desk.check_clean()


def test_a_spanish_reply_is_marked_spanish_and_the_interface_follows(desk):
    page = desk.page
    spanish = next(
        a.text for a in answers() if a.name == "utter_faq/session_length" and a.language == "es"
    )
    english = next(
        a.text for a in answers() if a.name == "utter_faq/session_length" and a.language == "en"
    )
    desk.bot.queue({"text": spanish})
    desk.open()
    desk.say("¿cuánto dura una sesión?")
    assert desk.bot.received[-1]["metadata"] == {
        "language": "en",
        "disclaimer_shown": True,
    }  # the page is English
    assert page.locator(".kaid-user .kaid-bubble").last.get_attribute("lang") == "es"
    bot_bubble = page.locator(".kaid-bot:not(.kaid-greeting) .kaid-bubble").nth(0)
    assert bot_bubble.get_attribute("lang") == "es"
    # The bot answered in Spanish: the interface follows, and says so next time.
    assert page.locator(".kaid-root").get_attribute("lang") == "es"
    assert page.locator(".kaid-lang-btn[data-kaid-lang='es']").get_attribute("aria-pressed") == (
        "true"
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('#kaid-live span')].some("
        "s => s.lang === 'es' && s.textContent.length > 40)"
    )
    desk.bot.queue({"text": english})
    desk.say("how long is a session?")
    assert desk.bot.received[-1]["metadata"] == {"language": "es", "disclaimer_shown": True}
    assert (
        page.locator(".kaid-bot:not(.kaid-greeting) .kaid-bubble").last.get_attribute("lang")
        == "en"
    )
    assert page.locator(".kaid-root").get_attribute("lang") == "en"
    # Earlier messages keep theirs.
    assert bot_bubble.get_attribute("lang") == "es"
    desk.check_clean()


def test_a_spanish_table_and_tools_have_spanish_labels_on_a_phone(phone):
    from bot.decision_aid import load

    page = phone.page
    reply, messages = decision_aid_reply("table", "es")
    phone.bot.queue(*messages)
    replies = dict(load(language="es").all_replies())
    question = next(r for n, r in replies.items() if n.startswith("checklist_question:"))
    summary = next(r for n, r in replies.items() if r.payload.get("type") == "summary")
    phone.bot.queue(
        {"text": question.text, "buttons": question.buttons}, {"custom": question.payload}
    )
    phone.bot.queue({"text": summary.text}, {"custom": summary.payload})
    phone.page.goto(phone.site.es)
    phone.launcher.click()
    phone.say("compara mis opciones")
    card = page.locator(".kaid-table-wrap")
    assert card.get_attribute("lang") == "es"
    text = card.inner_text()
    assert "Fuentes:" in text and "Sources:" not in text
    year, month, day = reply.payload["reviewed"].split("-")
    month_name = widget_strings(phone)["es"]["months"][int(month) - 1]
    assert f"Última revisión: {int(day)} de {month_name} de {year}." in text
    assert card.locator("details summary").inner_text() == "Ver como texto"
    assert (
        page.locator("table.kaid-table caption .kaid-table-title").inner_text()
        == (reply.payload["title"])
    )
    assert phone.horizontal_overflow() == 0
    phone.shot("unit-phone-table-es")
    phone.say("lista")
    bubble = page.locator(".kaid-bot:not(.kaid-greeting) .kaid-bubble").last
    step = question.payload["step"]
    assert f"Pregunta {step} de {question.payload['steps']}" in bubble.inner_text()
    assert page.locator(".kaid-quick-btn").first.inner_text() == "Sí"
    phone.say("resumen")
    bubble = page.locator(".kaid-bot:not(.kaid-greeting) .kaid-bubble").last
    assert bubble.locator("button.kaid-copy").inner_text() == "Copiar esta lista"
    assert english_left(phone) == []
    phone.check_clean()


def test_the_crisis_card_is_spanish_for_a_spanish_crisis_reply_on_an_english_page(phone):
    phone.bot.queue(*crisis_replies("es"))
    phone.open()
    phone.say("quiero morir")
    card = phone.page.locator(".kaid-crisis-card")
    assert card.get_attribute("lang") == "es"
    assert card.get_attribute("aria-label") == "Ayuda en crisis"
    assert card.locator("a[href='tel:988']").inner_text() == "Llamar al 988"
    assert card.locator("a[href='sms:988']").inner_text() == "Mensaje al 988"
    assert card.locator("a[href='tel:911']").inner_text() == "Llamar al 911"
    assert "Hay ayuda ahora mismo" in card.inner_text()
    phone.page.wait_for_function(
        "() => document.querySelector('#kaid-alert').textContent.includes('988')"
    )
    assert phone.page.locator("#kaid-alert span[lang='es']").count() >= 1
    phone.check_clean()


def test_the_offline_notice_in_spanish_and_after_a_switch(phone):
    page = phone.page
    phone.bot.fail = True
    page.goto(phone.site.es)
    phone.launcher.click()
    phone.say("¿cuánto dura una sesión?")
    notice = page.locator(".kaid-notice")
    text = notice.inner_text()
    assert "el asistente no está disponible" in text
    assert clinic_profile()["clinic_hours_es"] in text
    assert clinic_profile()["clinic_phone"] in text
    # the crisis line of the bot's own Spanish error reply
    assert (
        re.search(r"Si estás en crisis.*?911\.", system_message("technical_issue", "es"))[0] in text
    )
    assert notice.locator("button.kaid-retry").inner_text() == "Intentar de nuevo"
    page.wait_for_function(
        "() => document.querySelector('#kaid-alert').textContent.includes('(555) 010-0199')"
    )
    assert english_left(phone) == []
    phone.shot("unit-phone-offline-es")
    # Switching shows the same notice in English, and its retry still works.
    page.locator(".kaid-lang-btn[data-kaid-lang='en']").click()
    text = notice.inner_text()
    assert "can't be reached" in text and clinic_profile()["clinic_hours"] in text
    phone.bot.fail = False
    phone.bot.queue({"text": "A session takes about an hour (mock)."})
    before = phone.bot_count()
    notice.locator("button.kaid-retry").click()
    phone.wait_reply(before)
    assert phone.bot.received[-1] == {
        "sender": phone.bot.received[-1]["sender"],
        "message": "¿cuánto dura una sesión?",
        "metadata": {"language": "en", "disclaimer_shown": True},
    }


def test_start_over_and_delete_keep_the_language(desk):
    page = desk.page
    page.goto(desk.site.es)
    desk.launcher.click()
    desk.say("hola")
    page.locator(".kaid-restart").click()
    assert page.locator(".kaid-root").get_attribute("lang") == "es"
    page.wait_for_function(
        "() => document.querySelector('#kaid-live').textContent.includes('Se borró')"
    )
    desk.say("hola")
    page.locator("button.kaid-delete").click()
    page.locator("[data-kaid-deleted]").wait_for()
    assert "Tu conversación se borró" in page.locator("[data-kaid-deleted]").inner_text()
    assert page.locator(".kaid-root").get_attribute("lang") == "es"
    # the control message that ends a conversation carries nothing else
    assert {k for m in desk.bot.received if m["message"] == "/restart" for k in m} == {
        "sender",
        "message",
    }
    desk.check_clean()
