"""HTML fragments shared by the console pages and the printable document.

Every value is escaped with html.escape; the only styles and script are the
constants below, allowed by their SHA-256 hash in a strict Content-Security-Policy
(no inline attributes, no third-party anything).
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from typing import Iterable, List, Optional

from bot.console.catalog import Entry, source_label
from bot.console.crisis_script import CrisisScript
from bot.console.decision import Section
from bot.console.words import Words
from bot.console.words import load as load_words

CSS = """
:root { --ink: #1a1a1a; --muted: #555; --line: #ccc; --crisis: #8b0000; --crisis-bg: #fff1f0;
  --accent: #0b4f8a; }
* { box-sizing: border-box; }
body { margin: 0; font: 17px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  color: var(--ink); background: #fff; }
main, .bar-inner, header.top { max-width: 60rem; margin: 0 auto; padding: 0 1rem; }
a { color: var(--accent); }
.crisis-bar { position: sticky; top: 0; z-index: 10; background: var(--crisis-bg);
  border-bottom: 3px solid var(--crisis); }
.crisis-bar summary { cursor: pointer; font-weight: 700; color: var(--crisis); padding: .5rem 0;
  font-size: 1.1rem; }
.crisis-bar .crisis-body { max-height: 70vh; overflow: auto; padding-bottom: .75rem; }
.crisis h3 { margin: .75rem 0 .25rem; font-size: 1rem; color: var(--crisis); }
.crisis ol, .crisis ul { margin: .25rem 0; padding-left: 1.5rem; }
.crisis .numbers strong { font-size: 1.15rem; }
.crisis .status, .meta, .muted { color: var(--muted); font-size: .9rem; }
header.top { display: flex; flex-wrap: wrap; align-items: baseline; gap: 1rem; padding-top: .75rem;
  padding-bottom: .5rem; }
header.top h1 { font-size: 1.25rem; margin: 0; }
nav a { margin-right: 1rem; }
form.search { display: flex; gap: .5rem; margin: 1rem 0; }
form.search input[type=search] { flex: 1; font-size: 1.1rem; padding: .5rem; }
button { font: inherit; padding: .4rem .9rem; cursor: pointer; }
.card { border: 1px solid var(--line); border-radius: .4rem; padding: .75rem 1rem; margin: .75rem 0;
  break-inside: avoid; page-break-inside: avoid; }
.card.crisis { border: 3px solid var(--crisis); background: var(--crisis-bg); }
.card h3 { margin: 0 0 .25rem; font-size: 1.05rem; }
.answer-text { white-space: pre-line; margin: .5rem 0; }
.copy-status { margin-left: .5rem; color: var(--muted); font-size: .9rem; }
.plain-block { white-space: pre-wrap; font: inherit; margin: .5rem 0; }
table.grid { border-collapse: collapse; width: 100%; margin: .5rem 0; }
table.grid th, table.grid td { border: 1px solid var(--line); padding: .35rem .5rem;
  text-align: left; vertical-align: top; }
.toc ol { columns: 2; }
section, article { scroll-margin-top: 3.5rem; }
.offscreen { position: absolute; left: -9999px; top: 0; }
.notice { border-left: 4px solid var(--accent); padding: .25rem .75rem; background: #f3f7fb; }
@media print {
  body { font-size: 11.5pt; }
  .crisis-bar { position: static; border: 0; background: none; }
  nav, form, button, .no-print, .copy-status { display: none !important; }
  .crisis-bar summary { list-style: none; color: var(--crisis); }
  .crisis-bar summary::-webkit-details-marker { display: none; }
  .crisis-bar .hint { display: none; }
  /* the printed document has the whole script as its first section */
  body:has(section#crisis) .crisis-bar { display: none; }
  .card { border-color: #999; }
  a { color: inherit; text-decoration: none; }
  h2 { break-after: avoid; page-break-after: avoid; }
  section.topic { break-before: auto; }
  @page { margin: 16mm 14mm; }
}
"""

JS = """
(function () {
  function fallbackCopy(text) {
    var area = document.createElement('textarea');
    area.value = text; area.setAttribute('readonly', '');
    area.className = 'offscreen'; document.body.appendChild(area);
    area.select(); var ok = false;
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    document.body.removeChild(area); return ok;
  }
  function done(button, ok) {
    var status = document.getElementById(button.getAttribute('data-status'));
    button.setAttribute('data-copied', ok ? 'yes' : 'no');
    if (status) {
      status.textContent = ok ? 'Copied' : 'Copy failed: select the text and press Ctrl+C';
    }
  }
  document.addEventListener('click', function (event) {
    var button = event.target.closest('button.copy');
    if (button) {
      var source = document.getElementById(button.getAttribute('data-copy'));
      var text = source ? source.textContent : '';
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { done(button, true); },
          function () { done(button, fallbackCopy(text)); });
      } else { done(button, fallbackCopy(text)); }
      return;
    }
    if (event.target.closest('button.print')) { window.print(); }
  });
})();
"""


def sha256_source(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


CSS_HASH = sha256_source(CSS)
JS_HASH = sha256_source(JS)


def csp(scripts: bool = True, meta: bool = False) -> str:
    """The Content-Security-Policy of every console page and of the exported file.

    A <meta> policy (the exported file) cannot carry frame-ancestors.
    """
    rules = [
        "default-src 'none'",
        f"style-src {CSS_HASH}",
        f"script-src {JS_HASH}" if scripts else "script-src 'none'",
        "img-src 'none'",
        "font-src 'none'",
        "connect-src 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
    return "; ".join(r for r in rules if not (meta and r.startswith("frame-ancestors")))


def e(value: object) -> str:
    return escape(str(value), quote=True)


def sources_html(sources: Iterable[str], words: Optional[Words] = None) -> str:
    labels = [source_label(s) for s in sources]
    return e("; ".join(labels)) if labels else e((words or load_words())["no_source"])


def crisis_block(script: CrisisScript, *, bot_reply: bool = True) -> str:
    """The full crisis script (used pinned, in search results and in print)."""
    parts: List[str] = [
        f'<p class="status">{e(script.status)}</p>',
        f"<p>{e(script.when_to_use)}</p>",
    ]
    danger, label = script.immediate_danger, script.labels
    parts.append(f"<h3>{e(danger.title)}</h3>")
    if danger.signs:
        parts.append(f"<p>{e(label['signs'])}: {e(danger.signs)}</p>")
    parts.append("<ol>" + "".join(f"<li>{e(s)}</li>" for s in danger.steps) + "</ol>")
    parts.append(
        f"<h3>{e(label['say'])}</h3><ul>"
        + "".join(f"<li>{e(s)}</li>" for s in script.say)
        + "</ul>"
    )
    parts.append(
        f'<h3>{e(label["numbers"])}</h3><ul class="numbers">'
        + "".join(
            f"<li><strong>{e(n.number)}</strong> {e(n.label)}. {e(n.when)}</li>"
            for n in script.numbers
        )
        + "</ul>"
    )
    calm = script.not_immediate
    parts.append(
        f"<h3>{e(calm.title)}</h3><ol>" + "".join(f"<li>{e(s)}</li>" for s in calm.steps) + "</ol>"
    )
    parts.append(
        f"<h3>{e(label['do_not'])}</h3><ul>"
        + "".join(f"<li>{e(s)}</li>" for s in script.do_not)
        + "</ul>"
    )
    reply = script.bot_reply() if bot_reply else None
    if reply:
        parts.append(
            f"<h3>{e(label['bot_reply'])}</h3>"
            f'<div class="answer-text" lang="{e(script.language)}">{e(reply)}</div>'
        )
    words = load_words(script.language)
    parts.append(
        f'<p class="meta">{e(words["source"])}: {sources_html(script.sources, words)}. '
        f"{e(label['reviewed'])} {e(script.reviewed)}.</p>"
    )
    return "".join(parts)


def crisis_bar(script: CrisisScript, *, open_: bool = False) -> str:
    """Pinned at the top of every screen: the headline always visible, the script one click away."""
    return (
        '<div class="crisis-bar" id="crisis-script"><div class="bar-inner">'
        f"<details{' open' if open_ else ''}><summary>{e(script.headline)} "
        '<span class="hint">(open the crisis script)</span></summary>'
        f'<div class="crisis crisis-body">{crisis_block(script)}</div></details>'
        "</div></div>"
    )


def answer_card(
    entry: Entry,
    uid: str,
    *,
    copy: bool = True,
    heading: str = "h3",
    extra_meta: str = "",
    kind: str = "answer",
    words: Optional[Words] = None,
) -> str:
    """One response with each variant's text, its topic, sources and a copy button."""
    words = words or load_words()
    blocks = []
    for i, (variant, text) in enumerate(zip(entry.variants, entry.texts, strict=True)):
        text_id = f"{uid}-t{i}"
        label = entry.variant_label(variant, words)
        lang = f' lang="{e(variant.language)}"' if variant.language else ""
        blocks.append(
            (f'<p class="meta">{e(label)}</p>' if label else "")
            + f'<div class="answer-text" id="{e(text_id)}"{lang}>{e(text)}</div>'
            + (
                f'<button type="button" class="copy" data-copy="{e(text_id)}" '
                f'data-status="{e(text_id)}-s">'
                f"{e(words['copy'])}</button>"
                f'<span class="copy-status" id="{e(text_id)}-s" role="status"></span>'
                if copy
                else ""
            )
        )
    return (
        f'<article class="card {e(kind)}" id="{e(uid)}" data-response="{e(entry.name)}">'
        f"<{heading}>{e(entry.title)}</{heading}>"
        + "".join(blocks)
        + f'<p class="meta">{e(words["topic"])}: {e(words.topic(entry.topic))}. '
        f"{e(words['source'])}: {sources_html(entry.sources, words)}. "
        f"{e(words['reviewed'])} {e(entry.reviewed or words['unknown'])}. "
        f"{e(words['response'])}: {e(entry.name)}.{e(extra_meta)}</p>"
        "</article>"
    )


def section_block(
    section: Section, uid: str, *, copy: bool = True, words: Optional[Words] = None
) -> str:
    """A decision-aid section (comparison table, checklist, ...) as plain text (+ table)."""
    words = words or load_words()
    body = ""
    if section.table:
        header, *rows = section.table
        body += (
            '<table class="grid"><thead><tr>'
            + "".join(f"<th>{e(c)}</th>" for c in header)
            + "</tr></thead><tbody>"
            + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
            + "</tbody></table>"
        )
        body += f'<p class="meta">{e(words["read_aloud"])}</p>'
    text_id = f"{uid}-t0"
    body += f'<div class="answer-text" id="{e(text_id)}">{e(section.text)}</div>'
    if copy:
        body += (
            f'<button type="button" class="copy" data-copy="{e(text_id)}" '
            f'data-status="{e(text_id)}-s">{e(words["copy"])}</button>'
            f'<span class="copy-status" id="{e(text_id)}-s" role="status"></span>'
        )
    return (
        f'<article class="card decision" id="{e(uid)}"><h3>{e(section.title)}</h3>{body}'
        f'<p class="meta">{e(words["source"])}: {sources_html(section.sources, words)}. '
        f"{e(words['reviewed'])} {e(section.reviewed or words['unknown'])}.</p>"
        "</article>"
    )


def document(
    title: str, body: str, *, scripts: bool = True, meta_csp: bool = False, language: str = "en"
) -> str:
    """A complete HTML page with the shared stylesheet (and script), in one language."""
    head_csp = (
        f'<meta http-equiv="Content-Security-Policy" content="{e(csp(scripts, meta=True))}">'
        if meta_csp
        else ""
    )
    script = f"<script>{JS}</script>" if scripts else ""
    return (
        "<!doctype html>\n"
        f'<html lang="{e(language)}"><head><meta charset="utf-8">{head_csp}'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="same-origin">'
        f"<title>{e(title)}</title><style>{CSS}</style></head>"
        f"<body>{body}{script}</body></html>\n"
    )


def slug(text: str) -> str:
    out = "".join(ch.lower() if ch.isalnum() else "-" for ch in text)
    return "-".join(p for p in out.split("-") if p) or "section"
