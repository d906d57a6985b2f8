"""Static checks of the widget files (no browser needed): page-safety rules."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from bot.widget_server import content_security_policy, origin_of
from scripts.servers import ROOT

WIDGET = ROOT / "widget"
JS = (WIDGET / "widget.js").read_text(encoding="utf-8")
CSS = (WIDGET / "widget.css").read_text(encoding="utf-8")
CODE = re.sub(r"/\*.*?\*/|//[^\n]*", "", JS, flags=re.S)  # without comments


@pytest.mark.parametrize("sink", [
    "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
    "setTimeout(\"", "setTimeout('", "srcdoc", ".src =", "import(", "XMLHttpRequest", "sendBeacon",
    "WebSocket", "<script",
])
def test_widget_js_has_no_html_sinks_or_other_channels(sink):
    assert sink not in CODE, f"widget.js uses {sink!r}"


def test_widget_contacts_only_the_configured_server():
    urls = set(re.findall(r"https?://[^\s\"'`)]+", CODE))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls  # the SVG namespace is not a request
    assert CODE.count("window.fetch(") == 2  # messages (and "/restart") to WEBHOOK, deletions to CONVERSATIONS
    assert not re.search(r"url\(|@import|@font-face", CSS), "widget.css loads nothing"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


@pytest.mark.parametrize("page", ["index.html", "about.html"])
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
    assert re.search(rf'attr\("retention-days", "{days}"\)', CODE), \
        "widget.js's default data-retention-days must match endpoints.yml"
    for page in ("index.html", "about.html"):
        text = (WIDGET / "demo" / page).read_text(encoding="utf-8")
        assert "data-retention-days" not in text or f'data-retention-days="{days}"' in text
