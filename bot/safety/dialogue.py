"""What the bot does next for safety, given this turn's level and the session so far.

The rules (one place, used by bot.policies.CrisisPolicy on every turn):

- crisis level -> the crisis reply (911 first for an emergency);
- check level -> the check-in, or the crisis reply if the session already had a
  crisis reply or a check-in (an ambiguous message in the same session is
  treated as crisis);
- right after a check-in: "yes" or "not sure" -> the crisis reply; "no" ->
  thanks, then the answer to what they asked;
- after a crisis reply: "no, I'm fine" -> thanks, then back to their question;
  "I don't want to call" and "what happens when I call?" have their own
  replies (rules in data/rules/safety.yml), and a check-in level does not
  replace them once the session has had a safety reply;
- a message that only the model finds uneasy and that says the writer is
  safe now ("I called 988, I'm ok for tonight") counts as that "no";
- once help was offered, "ok I'll text them", "I called, waiting for them to
  answer" get a short reply that stays with them (outside such a session the
  same words are about calling the clinic: a rule answers with its number);
- right after the crisis reply, a message the bot cannot place ("don't tell
  my parents", "maybe"), or only "ok" or "thanks", gets a reply that stays
  with them, not the generic "not sure", the topic menu or the decision
  aid's "you don't need to know"; right after a check-in, it counts as
  "not sure";
- later in a session with a safety reply, a question that only the model
  finds uneasy ("still here. what about cost?") gets the crisis reply again
  and then its answer: repeating only the crisis text leaves the question
  they came back with unanswered;
- otherwise nothing: the other policies answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from bot.safety.assess import CHECK, CRISIS

CRISIS_RESPONSE = "utter_crisis"
CHECK_IN_RESPONSE = "utter_risk_check"
CHECK_IN_NO_RESPONSE = "utter_risk_check_no"
CRISIS_FINE_RESPONSE = "utter_crisis_fine"
REACHING_OUT_RESPONSE = "utter_crisis_reaching_out"
STAY_RESPONSE = "utter_crisis_stay"
ANSWER_ACTION = "action_risk_answer"
# Safety replies that mark the session ("risk stays in the conversation").
SESSION_MARKERS = (CRISIS_RESPONSE, CHECK_IN_RESPONSE)

YES_INTENTS = frozenset({"affirm", "not_sure"})
NO_INTENTS = frozenset({"deny"})
REACHING_OUT_INTENT = "crisis_reaching_out"
# Follow-ups about getting help: they have their own replies, not the check-in.
HELP_INTENTS = frozenset({"crisis_no_call", "crisis_what_happens", REACHING_OUT_INTENT})
# Messages that say nothing the bot can place.
UNPLACED_INTENTS = frozenset({"nlu_fallback", "out_of_scope", "not_sure"})
# "ok", "thanks" right after the crisis reply: it stays with them rather than
# turning back to the topic menu.
ACKNOWLEDGE_INTENTS = frozenset({"affirm", "thank"})
# The comparison's own requests are answered by the decision aid's action;
# other questions by action_risk_answer (the reviewed answer NLU selected).
COMPARISON_ACTION = "action_da_compare"
COMPARISON_INTENTS = frozenset(
    {"compare_options", "compare_dimension", "show_full_table", "da_next", "da_about"}
)
ANSWERABLE_INTENTS = COMPARISON_INTENTS | frozenset(
    {
        "faq",
        "advice",
        "clinic_contact",
        "book_consultation",
        "questions_to_ask",
        "therapist_referral",
        "therapist_role",
    }
)


@dataclass(frozen=True)
class SessionSafety:
    """What the current session's safety history says."""

    flagged: bool  # a crisis reply or check-in was sent in this session
    after_check_in: bool  # the bot's previous turn was a check-in
    after_crisis: bool  # the bot's previous turn was the crisis reply


def session_safety(
    previous_turn_actions: Sequence[str],
    session_actions: Sequence[str],
    flagged_before: bool = False,
) -> SessionSafety:
    """``flagged_before``: the session had a safety reply before its events were rolled over."""
    return SessionSafety(
        flagged=flagged_before or any(a in SESSION_MARKERS for a in session_actions),
        after_check_in=CHECK_IN_RESPONSE in previous_turn_actions,
        after_crisis=CRISIS_RESPONSE in previous_turn_actions,
    )


def answer_action(intent: Optional[str]) -> str:
    """The action that answers a question of this intent after a safety reply."""
    return COMPARISON_ACTION if intent in COMPARISON_INTENTS else ANSWER_ACTION


def plan(
    level: str,
    intent: Optional[str],
    session: SessionSafety,
    safe_now: bool = False,
    model_only: bool = False,
) -> Tuple[str, ...]:
    """The safety actions for this turn (empty: no safety action, others decide).

    ``safe_now``: the message says the writer is safe now ("I called 988, I'm ok
    for tonight. What are your hours?"). ``model_only``: only the learned model
    raised the level (no pattern, warning sign or risk vocabulary).
    """
    if safe_now and level != CRISIS and session.flagged:
        # At most the model's unease, and they say they are safe: believe them.
        # Right after a safety reply that is the "no" answer; later, the
        # normal answer. A crisis pattern (level crisis) still wins.
        if session.after_check_in:
            return (CHECK_IN_NO_RESPONSE, ANSWER_ACTION)
        if session.after_crisis:
            return (CRISIS_FINE_RESPONSE, ANSWER_ACTION)
        if level == CHECK:
            return ()
    if level != CRISIS and intent == REACHING_OUT_INTENT and session.flagged:
        return (REACHING_OUT_RESPONSE,)
    if level == CHECK and intent in HELP_INTENTS and session.flagged:
        # Their own replies only once help was offered: a first "made my peace,
        # don't call" gets the check-in, not a reply about ways to call.
        return ()
    if level == CHECK and session.flagged and model_only and intent in ANSWERABLE_INTENTS:
        return (CRISIS_RESPONSE, answer_action(intent))
    if level == CRISIS or (level == CHECK and session.flagged):
        return (CRISIS_RESPONSE,)
    if level == CHECK:
        return (CHECK_IN_RESPONSE,)
    if session.after_check_in and intent in YES_INTENTS | UNPLACED_INTENTS:
        return (CRISIS_RESPONSE,)
    if session.after_crisis and intent in UNPLACED_INTENTS | ACKNOWLEDGE_INTENTS:
        return (STAY_RESPONSE,)
    if session.after_check_in and intent in NO_INTENTS:
        return (CHECK_IN_NO_RESPONSE, ANSWER_ACTION)
    if session.after_crisis and intent in NO_INTENTS:
        return (CRISIS_FINE_RESPONSE, ANSWER_ACTION)
    return ()


__all__ = [
    "plan",
    "session_safety",
    "SessionSafety",
    "CRISIS_RESPONSE",
    "CHECK_IN_RESPONSE",
    "ANSWER_ACTION",
    "HELP_INTENTS",
    "SESSION_MARKERS",
]
