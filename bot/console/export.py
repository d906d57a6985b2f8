"""The printable phone-script document: Markdown and HTML (with a print stylesheet).

Crisis script first, then a table of contents, every answer grouped by topic
(every variant of every response the bot can send), and the decision-aid
sections. The date on top is the latest `reviewed` date of all that content.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

from bot.console import render
from bot.console.catalog import Catalog, Entry, source_label
from bot.console.render import e
from bot.console.words import Words

FORMATS = ("md", "html")


@dataclass(frozen=True)
class Chapter:
    anchor: str
    title: str


def _title(catalog: Catalog) -> str:
    clinic = catalog.clinic.get("clinic_name") or "Clinic"
    return catalog.words.fill("title", clinic=clinic)


def chapters(catalog: Catalog) -> List[Chapter]:
    result = [Chapter("crisis", catalog.crisis.title)]
    result += [
        Chapter("topic-" + render.slug(topic), catalog.words.topic(topic))
        for topic, _ in catalog.by_topic()
    ]
    result += [Chapter("aid-" + render.slug(s.key), s.title) for s in catalog.decision_sections]
    return result


def _intro(catalog: Catalog) -> List[str]:
    words = catalog.words
    return [
        words.fill("last_changed", date=catalog.last_changed),
        words["word_for_word"],
        words["general_only"],
    ]


# ---------------------------------------------------------------- Markdown
def _md_lines(text: str) -> List[str]:
    """Keeps the answer's own line breaks (Markdown hard breaks)."""
    lines = text.split("\n")
    return [
        line + ("  " if line and i + 1 < len(lines) and lines[i + 1] else "")
        for i, line in enumerate(lines)
    ]


def _md_entry(entry: Entry, words: Words) -> List[str]:
    out = [f"### {entry.title}", ""]
    for variant, text in zip(entry.variants, entry.texts, strict=True):
        label = entry.variant_label(variant, words)
        if label:
            out += [f"*{label}:*", ""]
        out += _md_lines(text) + [""]
    sources = "; ".join(source_label(s) for s in entry.sources) or words["no_source"]
    out += [
        f"{words['topic']}: {words.topic(entry.topic)}. {words['source']}: {sources}. "
        f"{words['reviewed']} {entry.reviewed or words['unknown']}. "
        f"{words['response']}: `{entry.name}`.",
        "",
    ]
    return out


def markdown(catalog: Catalog) -> str:
    crisis, words = catalog.crisis, catalog.words
    out = [f"# {_title(catalog)}", ""]
    for line in _intro(catalog):
        out += [line, ""]
    out += [f"## {words['contents']}", ""]
    out += [f"{i}. [{c.title}](#{c.anchor})" for i, c in enumerate(chapters(catalog), 1)] + [""]
    out += ['<a id="crisis"></a>', "", f"## {crisis.title}", "", f"**{crisis.headline}**", ""]
    for heading, intro, lines, numbered in crisis.sections():
        out += [f"### {heading}", ""] + ([intro, ""] if intro else [])
        out += [f"{i}. {line}" if numbered else f"- {line}" for i, line in enumerate(lines, 1)]
        out += [""] if lines else []
    out += [words["crisis_pointer"], ""]
    sources = "; ".join(source_label(s) for s in crisis.sources)
    out += [
        f"{crisis.status} {words['source']}: {sources}. {words['reviewed']} {crisis.reviewed}.",
        "",
    ]
    for topic, entries in catalog.by_topic():
        out += [f'<a id="topic-{render.slug(topic)}"></a>', "", f"## {words.topic(topic)}", ""]
        for entry in entries:
            out += _md_entry(entry, words)
    for section in catalog.decision_sections:
        out += [f'<a id="aid-{render.slug(section.key)}"></a>', "", f"## {section.title}", ""]
        out += _md_lines(section.text) + [""]
        sources = "; ".join(source_label(s) for s in section.sources) or words["none"]
        reviewed = section.reviewed or words["unknown"]
        out += [f"{words['source']}: {sources}. {words['reviewed']} {reviewed}.", ""]
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------- HTML
def html_body(catalog: Catalog, *, copy: bool = False, toolbar: str = "") -> str:
    """The document body; the console's print view adds its toolbar and copy buttons."""
    words = catalog.words
    parts = [toolbar, "<main>", f"<h1>{e(_title(catalog))}</h1>"]
    parts += [
        f'<p class="{"notice" if i == 0 else "muted"}">{e(line)}</p>'
        for i, line in enumerate(_intro(catalog))
    ]
    # A div, not <nav>: the print stylesheet hides navigation, but the contents must print.
    parts.append(
        f'<div class="toc" role="navigation" aria-label="{e(words["contents"])}">'
        f"<h2>{e(words['contents'])}</h2><ol>"
        + "".join(f'<li><a href="#{e(c.anchor)}">{e(c.title)}</a></li>' for c in chapters(catalog))
        + "</ol></div>"
    )
    crisis = catalog.crisis
    parts.append(
        f'<section class="card crisis" id="crisis"><h2>{e(crisis.title)}</h2>'
        f"<p><strong>{e(crisis.headline)}</strong></p>"
        f"{render.crisis_block(crisis, bot_reply=False)}"
        f"<p>{e(words['crisis_pointer'])}</p></section>"
    )
    for topic, entries in catalog.by_topic():
        anchor = "topic-" + render.slug(topic)
        parts.append(f'<section class="topic" id="{e(anchor)}"><h2>{e(words.topic(topic))}</h2>')
        parts += [
            render.answer_card(entry, f"{anchor}-{i}", copy=copy, words=words)
            for i, entry in enumerate(entries)
        ]
        parts.append("</section>")
    for section in catalog.decision_sections:
        anchor = "aid-" + render.slug(section.key)
        parts.append(
            f'<section class="topic" id="{e(anchor)}"><h2>{e(section.title)}</h2>'
            f"{render.section_block(section, anchor + '-0', copy=copy, words=words)}</section>"
        )
    parts.append("</main>")
    return "".join(parts)


def html(catalog: Catalog) -> str:
    """A standalone file: inline print stylesheet, its own CSP, no script."""
    return render.document(
        _title(catalog),
        html_body(catalog),
        scripts=False,
        meta_csp=True,
        language=catalog.words.language,
    )


def export(catalog: Catalog, fmt: str) -> str:
    if fmt == "md":
        return markdown(catalog)
    if fmt == "html":
        return html(catalog)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
