"""What no reply may ever contain: a dose, a personal directive, a personal yes.

Used by the tests that scan every response, action output and content file,
and by anyone reviewing new wording (`python -m bot` tools may reuse it).
"""

from __future__ import annotations

import re
from typing import List

FORBIDDEN = {
    "dose": re.compile(
        r"\b\d+(\.\d+)?\s?(mg|milligrams?|mcg|micrograms?|ml|millilit(er|re)s?)\b", re.I
    ),
    "dose per weight": re.compile(r"\bmg\s*/\s*kg\b|\bper kilo", re.I),
    "personal directive": re.compile(
        r"\byou\s+(should|must|need to|ought to)\s+"
        r"(take|stop|start|choose|pick|double|taper|skip|quit|increase|decrease|switch)\b",
        re.I,
    ),
    "personal yes": re.compile(r"\byes,?\s+you\s+(can|may|could|should)\b", re.I),
    "recommendation": re.compile(
        r"\b(i|we)\s+(recommend|suggest)\s+(that\s+)?you\b|\bbest (option|choice) for you\b", re.I
    ),
    # The same rules for the Spanish replies.
    "dose per weight (es)": re.compile(r"\bpor\s+kilo", re.I),
    "personal directive (es)": re.compile(
        # "no sé si debes dejarlo" (whether) is a deferral, not a directive.
        r"(?<!\bsi )\b(deber[ií]as|debes|deb[eé]s|tienes que|ten[eé]s que|necesitas"
        r"|hace falta que)\s+"
        r"(tomar|dejar|empezar|comenzar|elegir|escoger|duplicar|saltar|aumentar|bajar|reducir"
        r"|cambiar|suspender)\b",
        re.I,
    ),
    "personal yes (es)": re.compile(r"\bs[ií],?\s+(puedes|pod[eé]s|puede|deber[ií]as)\b", re.I),
    "recommendation (es)": re.compile(
        r"\b(te|le)\s+(recomiendo|recomendamos|sugiero|sugerimos)\b"
        r"|\bmejor (opci[oó]n|elecci[oó]n) para (ti|vos|usted)\b",
        re.I,
    ),
}


def violations(text: str) -> List[str]:
    """Names of the rules the text breaks (empty when it is clean)."""
    return [name for name, pattern in FORBIDDEN.items() if pattern.search(text or "")]
