"""Static checks of the widget files (no browser needed): page-safety rules."""

from __future__ import annotations

import html
import re
import subprocess
import urllib.request
from html.parser import HTMLParser

import pytest

from bot.content import clinic_profile, raw_responses, system_message
from bot.widget_server import content_security_policy, embed_tag, origin_of, serve_in_thread
from scripts.servers import ROOT

WIDGET = ROOT / "widget"
JS = (WIDGET / "widget.js").read_text(encoding="utf-8")
CSS = (WIDGET / "widget.css").read_text(encoding="utf-8")
CODE = re.sub(r"/\*.*?\*/|//[^\n]*", "", JS, flags=re.S)  # without comments


@pytest.mark.parametrize(
    "sink",
    [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        'setTimeout("',
        "setTimeout('",
        "srcdoc",
        ".src =",
        "import(",
        "XMLHttpRequest",
        "sendBeacon",
        "WebSocket",
        "<script",
    ],
)
def test_widget_js_has_no_html_sinks_or_other_channels(sink):
    assert sink not in CODE, f"widget.js uses {sink!r}"


def test_widget_contacts_only_the_configured_server():
    urls = set(re.findall(r"https?://[^\s\"'`)]+", CODE))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls  # the SVG namespace is not a request
    assert (
        CODE.count("window.fetch(") == 2
    )  # messages (and "/restart") to WEBHOOK, deletions to CONVERSATIONS
    assert not re.search(r"url\(|@import|@font-face", CSS), "widget.css loads nothing"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


@pytest.mark.parametrize("page", ["index.html", "about.html", "es.html"])
def test_demo_pages_embed_with_one_tag_and_nothing_third_party(page):
    parser = _Tags()
    parser.feed((WIDGET / "demo" / page).read_text(encoding="utf-8"))
    scripts = [a for t, a in parser.tags if t == "script"]
    assert len(scripts) == 1 and scripts[0]["src"].endswith("widget.js")
    assert scripts[0]["data-server"] and scripts[0]["data-clinic-phone"]
    for tag, attrs in parser.tags:
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert not value.startswith(("http:", "https:", "//")), (tag, value)
    assert not any(t == "style" or "style" in a for t, a in parser.tags), "no inline styles"
    assert "sample" in (WIDGET / "demo" / page).read_text(encoding="utf-8").lower()


def test_dev_server_policy_is_strict():
    policy = content_security_policy("http://127.0.0.1:5005/")
    assert "connect-src http://127.0.0.1:5005" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy and "*" not in policy
    with pytest.raises(ValueError):
        origin_of("javascript:alert(1)")


def test_the_privacy_notice_states_the_retention_the_bot_applies():
    import yaml

    # ${ACTIONS_PORT} is filled in by Rasa from the environment; not needed here.
    endpoints = yaml.safe_load((ROOT / "endpoints.yml").read_text().replace("${ACTIONS_PORT}", "0"))
    days = endpoints["tracker_store"]["retention_days"]
    assert re.search(rf'attr\("retention-days", "{days}"\)', CODE), (
        "widget.js's default data-retention-days must match endpoints.yml"
    )
    for page in ("index.html", "about.html", "es.html"):
        text = (WIDGET / "demo" / page).read_text(encoding="utf-8")
        assert "data-retention-days" not in text or f'data-retention-days="{days}"' in text


# ---- one source per fact ---------------------------------------------------------


def _tracked_text_files():
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    for name in out.stdout.decode().split("\0"):
        path = ROOT / name
        if name and path.is_file():
            try:
                yield name, path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue


@pytest.mark.parametrize("field", ["clinic_name", "clinic_phone", "clinic_hours"])
def test_the_sample_clinic_details_are_written_in_the_clinic_profile_only(field):
    value = clinic_profile()[field]
    where = [
        name
        for name, text in _tracked_text_files()
        if value in text and not name.startswith("tests/")
    ]
    assert where == ["domain.yml"], f"{field} {value!r} is also written in {where}"


@pytest.mark.parametrize("page", ["index.html", "about.html"])
def test_served_demo_pages_carry_the_clinic_profile(page):
    server, base = serve_in_thread(bot_url="http://127.0.0.1:5005")
    try:
        with urllib.request.urlopen(f"{base}/demo/{page}", timeout=10) as resp:
            served = resp.read().decode("utf-8")
    finally:
        server.shutdown()
        server.server_close()
    assert "{clinic_" not in served.replace("{clinic_*}", "")
    parser = _Tags()
    parser.feed(served)
    script = next(a for t, a in parser.tags if t == "script")
    profile = clinic_profile()
    assert script["data-clinic-name"] == profile["clinic_name"]
    assert script["data-clinic-phone"] == profile["clinic_phone"]
    assert script["data-clinic-hours"] == profile["clinic_hours"]
    assert html.escape(profile["clinic_phone"]) in served.split("<script")[0]  # the page text too


def test_printed_embed_tag_is_the_clinic_profile():
    parser = _Tags()
    parser.feed(embed_tag("https://bot.example-clinic.com/", src="/assets/chat/widget.js"))
    ((tag, attrs),) = parser.tags
    profile = clinic_profile()
    assert tag == "script" and attrs["src"] == "/assets/chat/widget.js" and "defer" in attrs
    assert attrs["data-server"] == "https://bot.example-clinic.com"
    assert [attrs[f"data-clinic-{k}"] for k in ("name", "phone", "hours")] == [
        profile["clinic_name"],
        profile["clinic_phone"],
        profile["clinic_hours"],
    ]


def test_only_the_crisis_reply_carries_the_crisis_mark():
    marked = sorted(
        {
            name
            for name, variants in raw_responses().items()
            for v in variants or []
            if (v.get("custom") or {}).get("type") == "crisis"
        }
    )
    assert marked == ["utter_crisis"]
    assert all(v.get("custom") == {"type": "crisis"} for v in raw_responses()["utter_crisis"])
    assert 'custom.type === "crisis"' in CODE


def test_the_widget_offline_crisis_line_is_the_bots_own_wording():
    # The widget must show it when the bot can't be reached, so it carries the
    # text itself; it is the same sentence the bot's own error reply ends with.
    line = re.search(r"If you are in crisis.*?911\.", system_message("technical_issue")).group(0)
    assert line in CODE


# ---- two languages -------------------------------------------------------------


def _strings_read(code: str) -> str:
    """widget.js's code with its string literals as the browser reads them: long
    strings split in adjacent pieces ("..." + "...") joined, \\uXXXX escapes read."""
    joined = re.sub(r'"\s*\+\s*"', "", code)
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), joined)


def test_widget_js_is_plain_ascii():
    # Spanish letters are \\u escapes, so a page served in any charset shows them right.
    assert JS.isascii(), sorted({c for c in JS if not c.isascii()})


def test_the_widget_offline_crisis_line_in_spanish_is_the_bots_own_wording():
    line = re.search(r"Si estás en crisis.*?911\.", system_message("technical_issue", "es")).group(
        0
    )
    assert line in _strings_read(CODE)


def test_the_spanish_demo_page_starts_the_widget_in_spanish():
    server, base = serve_in_thread(bot_url="http://127.0.0.1:5005")
    try:
        with urllib.request.urlopen(f"{base}/demo/es.html", timeout=10) as resp:
            served = resp.read().decode("utf-8")
    finally:
        server.shutdown()
        server.server_close()
    assert '<html lang="es">' in served and "{clinic_" not in served.replace("{clinic_*}", "")
    parser = _Tags()
    parser.feed(served)
    script = next(a for t, a in parser.tags if t == "script")
    profile = clinic_profile()
    assert script["data-lang"] == "es"
    assert script["data-clinic-hours"] == profile["clinic_hours_es"]  # the page's language
    assert script["data-clinic-hours-en"] == profile["clinic_hours"]
    links = {a.get("href"): a for t, a in parser.tags if t == "a"}
    assert links["index.html"].get("lang") == "en"  # and back to the English page


def test_printed_embed_tag_for_a_spanish_page():
    parser = _Tags()
    parser.feed(embed_tag("https://bot.example-clinic.com/", lang="es"))
    ((tag, attrs),) = parser.tags
    profile = clinic_profile()
    assert attrs["data-lang"] == "es"
    assert attrs["data-clinic-hours"] == profile["clinic_hours_es"]
    assert attrs["data-clinic-hours-en"] == profile["clinic_hours"]
    english = dict(tags_of(embed_tag("https://bot.example-clinic.com/")))
    assert "data-lang" not in english["script"]
    assert english["script"]["data-clinic-hours-es"] == profile["clinic_hours_es"]
    with pytest.raises(ValueError):
        embed_tag("https://bot.example-clinic.com/", lang="fr")


def tags_of(markup: str):
    parser = _Tags()
    parser.feed(markup)
    return parser.tags
