"""The console's pages (server-rendered HTML; every value escaped)."""

from __future__ import annotations

from typing import Optional

from bot.console import export, render
from bot.console.catalog import Catalog
from bot.console.render import e
from bot.console.search import SearchResult

APP_TITLE = "Staff phone console"


def _header(catalog: Catalog, active: str) -> str:
    links = [
        ("/", "Search"),
        ("/browse", "Browse"),
        ("/print", "Print view"),
        ("/export.md", "Download Markdown"),
        ("/export.html", "Download HTML"),
        ("/print?lang=es", "Print view in Spanish"),
        ("/export.html?lang=es", "Download HTML in Spanish"),
    ]
    nav = "".join(
        f'<a href="{href}"{" aria-current=page" if href == active else ""}>{e(label)}</a>'
        for href, label in links
    )
    clinic = catalog.clinic.get("clinic_name", "")
    return (
        f'<header class="top" lang="en"><h1>{e(APP_TITLE)}</h1>'
        f'<span class="muted">{e(clinic)}</span>'
        f'<nav aria-label="Console">{nav}</nav>'
        '<form method="post" action="/logout" class="no-print">'
        '<button type="submit">Log out</button></form>'
        "</header>"
    )


def _page(
    catalog: Catalog, title: str, active: str, main: str, *, crisis_open: bool = False
) -> str:
    body = (
        render.crisis_bar(catalog.crisis, open_=crisis_open)
        + _header(catalog, active)
        + f"<main>{main}</main>"
    )
    return render.document(f"{title} - {APP_TITLE}", body)


def search_page(catalog: Catalog, result: Optional[SearchResult], ranker: str) -> str:
    query = result.query if result else ""
    parts = [
        '<form class="search" method="get" action="/" role="search">'
        '<label for="q" class="offscreen">Caller\'s question</label>'
        f'<input type="search" id="q" name="q" value="{e(query)}" autofocus autocomplete="off" '
        'placeholder="Type the caller\'s question in your own words" maxlength="500">'
        '<button type="submit">Search</button></form>',
        '<p class="muted">Shows the three best matching approved answers. '
        f"Ranking: {e(ranker)}.</p>",
    ]
    if result and result.query:
        parts.append(f"<h2>Results for “{e(result.query)}”</h2>")
        if result.crisis:
            script = catalog.crisis
            parts.append(
                '<section class="card crisis" id="crisis-result" aria-live="assertive">'
                "<h2>CRISIS: use the crisis script now</h2>"
                f"<p><strong>{e(script.headline)}</strong></p>"
                f"{render.crisis_block(script)}</section>"
            )
        if result.hits:
            parts += [
                render.answer_card(hit.entry, f"hit-{i}") for i, hit in enumerate(result.hits)
            ]
            if result.tools:
                parts.append('<h2 class="tools">Decision tool that may help</h2>')
                parts += [
                    render.answer_card(tool.entry, f"tool-{i}", kind="tool")
                    for i, tool in enumerate(result.tools)
                ]
        else:
            parts.append(
                '<p id="no-results">No approved answer matched. Try other words, '
                'or <a href="/browse">browse every answer by topic</a>.</p>'
            )
    # The bar stays closed: a crisis search shows the whole script as the first result.
    return _page(catalog, "Search", "/", "".join(parts))


def browse_page(catalog: Catalog) -> str:
    groups = catalog.by_topic()
    toc = ['<div class="toc"><h2>Topics</h2><ol>']
    toc += [
        f'<li><a href="#topic-{e(render.slug(t))}">{e(t)}</a> ({len(es)})</li>' for t, es in groups
    ]
    toc += [
        f'<li><a href="#aid-{e(render.slug(s.key))}">{e(s.title)}</a></li>'
        for s in catalog.decision_sections
    ]
    toc.append("</ol></div>")
    parts = ["".join(toc)]
    for topic, entries in groups:
        anchor = "topic-" + render.slug(topic)
        parts.append(f'<section class="topic" id="{e(anchor)}"><h2>{e(topic)}</h2>')
        parts += [render.answer_card(entry, f"{anchor}-{i}") for i, entry in enumerate(entries)]
        parts.append("</section>")
    if catalog.decision_sections:
        for section in catalog.decision_sections:
            anchor = "aid-" + render.slug(section.key)
            parts.append(
                f'<section class="topic" id="{e(anchor)}"><h2>{e(section.title)}</h2>'
                f"{render.section_block(section, anchor + '-0')}</section>"
            )
    else:
        parts.append(
            '<p class="muted">The comparison table and decision tools are not available yet.</p>'
        )
    parts.append(f'<p class="muted">Content last changed: {e(catalog.last_changed)}.</p>')
    return _page(catalog, "Browse", "/browse", "".join(parts))


def print_page(catalog: Catalog) -> str:
    """The printable document, as exported, with a print button and the pinned crisis bar."""
    toolbar = (
        render.crisis_bar(catalog.crisis)
        + _header(catalog, "/print")
        + '<p class="bar-inner no-print" lang="en">'
        '<button type="button" class="print">Print</button></p>'
    )
    return render.document(
        export._title(catalog),
        export.html_body(catalog, copy=True, toolbar=toolbar),
        language=catalog.words.language,
    )


def login_page(message: str = "") -> str:
    note = f'<p class="notice" role="alert">{e(message)}</p>' if message else ""
    body = (
        f"<main><h1>{e(APP_TITLE)}</h1>"
        f"<p>For clinic staff only. Enter the staff console token.</p>{note}"
        '<form method="post" action="/login"><label for="token">Token</label> '
        '<input type="password" id="token" name="token" autocomplete="current-password" '
        'required maxlength="512"> '
        '<button type="submit">Log in</button></form>'
        '<p class="muted">In a crisis, call or text 988. In an emergency, call 911.</p></main>'
    )
    return render.document(f"Log in - {APP_TITLE}", body, scripts=False)


def message_page(title: str, message: str) -> str:
    return render.document(
        title, f"<main><h1>{e(title)}</h1><p>{e(message)}</p></main>", scripts=False
    )
