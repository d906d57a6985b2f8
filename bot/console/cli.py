"""`python -m bot scripts ...` and `python -m bot console ...` (see bot/__main__.py).

Kept light at import: Rasa and TensorFlow load only when a command needs the model.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Optional

from bot.console.nlu import DEFAULT_MODEL
from bot.serving import serve_until_interrupted


def _model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        type=Path,
        default=DEFAULT_MODEL,
        help=f"trained Rasa model (default: {DEFAULT_MODEL.relative_to(DEFAULT_MODEL.parents[1])})",
    )
    parser.add_argument(
        "--no-model", action="store_true", help="keyword search only (no Rasa model is loaded)"
    )


def _searcher(args: argparse.Namespace):
    from bot.console.catalog import Catalog
    from bot.console.nlu import NluRanker
    from bot.console.search import Searcher

    catalog = Catalog()
    nlu: Optional[NluRanker] = None
    if not args.no_model:
        if Path(args.model).exists():
            print(f"Loading the model {args.model} (10-20 s)...", file=sys.stderr)
            nlu = NluRanker.load(args.model)
        else:
            print(
                f"No model at {args.model} (run `make train`): keyword search only.",
                file=sys.stderr,
            )
    return catalog, Searcher(catalog, nlu)


# ---------------------------------------------------------------- scripts
def add_scripts_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    search = sub.add_parser(
        "search", help="the three best approved answers for a caller's question"
    )
    search.add_argument("query", nargs="+", help="the caller's question, in your own words")
    search.add_argument("-n", type=int, default=3, help="how many answers (default 3)")
    _model_args(search)
    exp = sub.add_parser("export", help="the printable phone-script document")
    exp.add_argument("--format", choices=("md", "html"), default="md")
    exp.add_argument("--language", choices=("en", "es"), help="only this language (default: both)")
    exp.add_argument("-o", "--output", type=Path, help="write to this file (default: stdout)")
    parser.set_defaults(run=run_scripts)


def _wrap(text: str, indent: str = "   ") -> str:
    lines = []
    for line in text.split("\n"):
        lines.append(
            textwrap.fill(line, width=88, initial_indent=indent, subsequent_indent=indent)
            if line
            else ""
        )
    return "\n".join(lines)


def run_scripts(args: argparse.Namespace) -> int:
    if args.action == "export":
        from bot.console.catalog import Catalog
        from bot.console.export import export

        document = export(Catalog(language=args.language), args.format)
        if args.output:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(document, encoding="utf-8")
            print(f"Wrote {args.output} ({args.format}).", file=sys.stderr)
        else:
            sys.stdout.write(document)
        return 0
    from bot.console.catalog import source_label

    catalog, searcher = _searcher(args)
    result = searcher.search(" ".join(args.query), n=args.n)
    out = []
    if result.crisis:
        out += [
            "!" * 72,
            "CRISIS: USE THE CRISIS SCRIPT NOW",
            "!" * 72,
            catalog.crisis.as_text(),
            "!" * 72,
            "",
        ]
    if not result.hits:
        out.append(
            "No approved answer matched. Try other words, "
            "or export the document and browse by topic."
        )
    numbered = [(str(i), hit) for i, hit in enumerate(result.hits, 1)]
    numbered += [("Decision tool that may help:", tool) for tool in result.tools]
    for label, hit in numbered:
        entry = hit.entry
        prefix = f"{label}." if label.isdigit() else label
        out.append(
            f"{prefix} {entry.title}  [{entry.topic}]  ({entry.name}, score {hit.score:.2f})"
        )
        for variant, text in zip(entry.variants, entry.texts, strict=True):
            label = entry.variant_label(variant)
            if label:
                out.append(f"   {label}:")
            out.append(_wrap(text))
        sources = "; ".join(source_label(s) for s in entry.sources) or "no seed page"
        out.append(f"   Source: {sources}. Reviewed {entry.reviewed or 'unknown'}.")
        out.append("")
    out.append(f"(ranking: {result.ranker})")
    print("\n".join(out))
    return 0


# ---------------------------------------------------------------- console
def add_console_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this computer only)",
    )
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="file holding the staff token (default .rasa_state/staff_console_token); "
        "STAFF_CONSOLE_TOKEN wins if set",
    )
    parser.add_argument(
        "--dev-token",
        action="store_true",
        help="no configured token: make a random one for this run and print it",
    )
    parser.add_argument(
        "--secure-cookie",
        action="store_true",
        help="mark the login cookie Secure (when served behind HTTPS)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    _model_args(parser)
    parser.set_defaults(run=run_console)


def run_console(args: argparse.Namespace) -> int:
    from bot.console import auth
    from bot.console.web import ConsoleApp, ConsoleServer

    try:
        token = auth.load_token(args.token_file)
    except auth.TokenError as err:
        if not args.dev_token:
            print(f"Refusing to start: {err}", file=sys.stderr)
            return 2
        token = auth.new_token()
        print(f"Development token for this run only: {token}", file=sys.stderr)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"Warning: binding {args.host} exposes the console beyond this computer. "
            "Put it behind HTTPS and use --secure-cookie.",
            file=sys.stderr,
        )
    catalog, searcher = _searcher(args)
    app = ConsoleApp(
        catalog,
        searcher,
        auth.Guard(token, secure_cookie=args.secure_cookie),
        log_requests=not args.quiet,
    )
    server = ConsoleServer((args.host, args.port), app)
    print(
        f"Staff console on {server.url}/ (log in with the token; Ctrl+C to stop)", file=sys.stderr
    )
    serve_until_interrupted(server)
    return 0
