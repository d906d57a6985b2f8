"""Rule-based safety detectors (spaCy tokenizer + lookup lemmatizer, patterns in YAML).

- ``detect(text) -> CrisisResult``: crisis language (routes to 988 / 911).
- ``detect_advice(text) -> Optional[str]``: personal medical questions (routes to the clinician).

Both load lazily on first use; call ``warm_up()`` at start-up to pay that cost early.
"""

from bot.safety.advice import ADVICE_KEYS, detect_advice
from bot.safety.crisis import CrisisResult, detect


def warm_up() -> None:
    """Load the spaCy pipeline and both pattern sets now."""
    detect("warm up")
    detect_advice("warm up")


__all__ = ["CrisisResult", "detect", "detect_advice", "ADVICE_KEYS", "warm_up"]
