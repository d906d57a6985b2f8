"""Decision-aid actions (rasa_sdk): the side-by-side comparison and its tools.

All wording comes from bot/content/comparison.yml and bot/content/tools.yml via
bot/decision_aid.py; these actions only decide WHAT to show. Every reply is sent
in two forms at once (see bot/decision_aid.py for the payload schema):

    dispatcher.utter_message(text=PLAIN_TEXT, buttons=[...], json_message=PAYLOAD)

The REST channel turns that into one ``{"text", "buttons"}`` message (read by
``rasa shell`` and the phone line) and one ``{"custom": PAYLOAD}`` message (drawn
by the widget). Text-only channels (``rasa shell``, a phone line; see
TEXT_ONLY_CHANNELS) get the plain text and buttons without the payload.

Conversation state (slots, all declared in domain.yml's decision-aid fence):

- ``da_context``: "compare" or "troubleshoot" while a comparison or the
  troubleshooting tool is on screen, so a follow-up ("what about insurance?",
  "and compounded?") is answered within it. Rules route FAQ-classified
  messages to ``action_da_followup`` while it is set.
- ``da_options`` / ``da_view``: the options in focus and the current view
  ("menu", "table" or a dimension id).
- ``da_values`` (values_form), ``da_values_shown``: what matters to the person.
- ``cl_*`` (checklist_form): the self-reflection answers, cleared once the
  summary is shown.

Starting any decision-aid tool ends a form that is still open (the person has
moved on); an FAQ or other question asked inside a form is answered by its own
rule and the form then asks its question again.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot import decision_aid as da
from bot import follow_up
from bot.decision_aid import Reply
from bot.language import QUESTION_WORDS, fold

CLINIC_SLOTS = (
    "clinic_name",
    "clinic_phone",
    "clinic_hours",
    "clinic_address",
    "clinic_booking_url",
    "clinic_treatments",
    # The profile's Spanish fields, named by the Spanish texts.
    "clinic_hours_es",
    "clinic_treatments_es",
)
LANGUAGE_SLOT = "language"
# The FAQ topic just answered (bot/topic_policy.py keeps it).
TOPIC_SLOT = "faq_topic"
CONTEXT_SLOT = "da_context"
COMPARE, TROUBLESHOOT = "compare", "troubleshoot"
VALUES_FORM, CHECKLIST_FORM = "values_form", "checklist_form"
FAQ_INTENT = "faq"
# Intents whose message is a question to answer, not an answer to the form.
QUESTION_INTENTS = {"faq", "advice", "crisis"}
# Channels that only show text: `rasa shell` would print the JSON payload
# after the plain text, and a phone line reads text aloud.
TEXT_ONLY_CHANNELS = {"cmdline", "twilio", "twilio_voice", "audiocodes", "vonage"}
# The domain's "not understood" reply (also used for a follow-up that somehow
# has no FAQ selection).
FALLBACK_INTENT = "nlu_fallback"
FALLBACK_RESPONSE = "utter_fallback"
OUT_OF_SCOPE_INTENT = "out_of_scope"
OUT_OF_SCOPE_RESPONSE = "utter_out_of_scope"


# ----------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------
def aid(tracker: Tracker) -> da.DecisionAid:
    """The decision aid in the conversation's language (the ``language`` slot)."""
    return da.load(language=tracker.get_slot(LANGUAGE_SLOT) or "en")


def clinic(tracker: Tracker) -> Dict[str, Any]:
    return {name: tracker.get_slot(name) for name in CLINIC_SLOTS if tracker.get_slot(name)}


def wants_text_only(tracker: Tracker) -> bool:
    """True for channels that can't draw the widget payload (``rasa shell``, phone).

    A client can also ask for text only with message metadata ``{"text_only": true}``.
    """
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    return (
        bool(metadata.get("text_only")) or tracker.get_latest_input_channel() in TEXT_ONLY_CHANNELS
    )


def say(dispatcher: CollectingDispatcher, reply: Reply, tracker: Optional[Tracker] = None) -> None:
    payload = None if tracker is not None and wants_text_only(tracker) else reply.payload
    dispatcher.utter_message(text=reply.text, buttons=reply.buttons or None, json_message=payload)


def intent_of(tracker: Tracker) -> Optional[Text]:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name")


def user_text(tracker: Tracker) -> Text:
    """The latest message, or "" when it was a button command like /intent{...}."""
    text = (tracker.latest_message or {}).get("text") or ""
    return "" if text.lstrip().startswith("/") else text


def entity_values(tracker: Tracker, entity: Text) -> List[Text]:
    values: List[Text] = []
    for item in (tracker.latest_message or {}).get("entities") or []:
        if item.get("entity") != entity:
            continue
        value = item.get("value")
        values += [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return values


def faq_key(tracker: Tracker) -> Optional[Text]:
    """The FAQ key the classifier chose ("insurance" for faq/insurance)."""
    selector = ((tracker.latest_message or {}).get("response_selector") or {}).get(FAQ_INTENT) or {}
    key = (selector.get("response") or {}).get("intent_response_key") or ""
    return key.split("/", 1)[1] if "/" in key else None


def faq_response(tracker: Tracker) -> Optional[Text]:
    selector = ((tracker.latest_message or {}).get("response_selector") or {}).get(FAQ_INTENT) or {}
    return (selector.get("response") or {}).get("utter_action")


def leave_open_form(tracker: Tracker) -> List[EventType]:
    """Ends a form that is still open when another tool starts."""
    if tracker.active_loop_name:
        return [ActiveLoop(None), SlotSet("requested_slot", None)]
    return []


# Openers of a follow-up inside the comparison, besides the follow-up table's
# own (bot/content/follow_ups.yml: "what about", "and", "y", "no i meant"...):
# "now the spray" changes the option on screen.
FOLLOW_UP_STARTS = ("now", "ahora")
FILLER = {
    "the",
    "a",
    "an",
    "one",
    "ones",
    "option",
    "options",
    "ketamine",
    "please",
    "then",
    "too",
    "also",
    "and",
    "what",
    "about",
    "how",
    "now",
    "ok",
    "okay",
    "for",
    "same",
    "of",
    "y",
    "el",
    "la",
    "los",
    "las",
    "lo",
    "de",
    "del",
    "con",
    "para",
    "en",
    "qué",
    "que",
    "tal",
    "opción",
    "opcion",
    "opciones",
    "ketamina",
    "por",
    "favor",
    "también",
    "tambien",
    "ahora",
    "mismo",
    "igual",
    "entonces",
}


def is_elliptical(text: Text) -> bool:
    """A short follow-up that only makes sense within what is on screen."""
    words = [w.strip("?!.,;:") for w in text.lower().split()]
    words = [w for w in words if w]
    if not words:
        return False
    joined = " ".join(words)
    starts = FOLLOW_UP_STARTS + follow_up.load().openers
    if any(joined == start or joined.startswith(start + " ") for start in starts):
        return True
    # The Spanish aid matches the English option names as well.
    rest = da.load(language="es").without_options(text)
    leftover = [w.strip("?!.,;:") for w in rest.split()]
    return all(not w or w in FILLER for w in leftover)


def looks_like_question(text: Text) -> bool:
    words = fold(text).strip().lstrip("¿¡").split()
    return "?" in text or bool(words and words[0] in QUESTION_WORDS)


# ----------------------------------------------------------------------
# The comparison
# ----------------------------------------------------------------------
def compare(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    options: List[Text],
    dimensions: List[Text],
    intent: Optional[Text],
) -> List[EventType]:
    """Shows the view the person asked for and remembers it for follow-ups."""
    content = aid(tracker)
    text = user_text(tracker)
    in_context = tracker.get_slot(CONTEXT_SLOT) == COMPARE
    focus = (
        content.valid(tracker.get_slot("da_options") or [], content.option_ids)
        if in_context
        else []
    )
    view = tracker.get_slot("da_view") if in_context else None
    everything = list(content.option_ids)

    if intent == da.INTENT_TABLE and tracker.get_slot(CONTEXT_SLOT) == TROUBLESHOOT:
        # "show all" while the troubleshooting tool is on screen: all its rows.
        return troubleshoot(dispatcher, tracker, da.ALL)
    if intent == da.INTENT_DIMENSION and not dimensions and not options:
        # "one topic at a time": start (or go on) with the topics. A question
        # about an aspect no row names ("which feels less bad?") or a plain
        # "compare them for me" gets the whole table instead of the first row.
        asked = (looks_like_question(text) or content.compares(text)) and view in (
            None,
            "menu",
            "table",
        )
        intent = da.INTENT_TABLE if asked else da.INTENT_NEXT
    if intent == da.INTENT_TABLE and dimensions and not content.wants_whole_table(text):
        intent = None  # "which is safest?" read as "the table": the rows that answer it
    if intent == da.INTENT_ABOUT:
        # Who made the comparison: the view on screen stays what it was.
        shown = focus or everything
        reply, view = content.about(clinic(tracker)), view or "menu"
    elif intent == da.INTENT_TABLE:
        shown = options if len(options) >= 2 else everything
        reply, view = content.table(shown, clinic=clinic(tracker)), "table"
    elif intent == da.INTENT_NEXT and not dimensions:
        current = view if view in content.dimension_ids else None
        following = content.next_dimension(current)
        shown = options or focus or everything
        if following is None:  # "next" after the last topic: the whole table
            reply, view = content.table(shown, clinic=clinic(tracker)), "table"
        else:
            reply, view = content.table(shown, [following], clinic(tracker)), following
    elif dimensions:
        if options and len(options) == 1 and focus and options[0] not in focus:
            shown = focus + options
        else:
            shown = options or focus or everything
        shown = content.valid(shown, content.option_ids)
        reply = content.table(shown, dimensions, clinic(tracker))
        view = dimensions[0] if len(dimensions) == 1 else "table"
    elif len(options) >= 2 or content.wants_whole_table(text):
        shown = options if len(options) >= 2 else everything
        reply, view = content.table(shown, clinic=clinic(tracker)), "table"
    elif len(options) == 1:
        option = options[0]
        if focus and view and view != "menu":
            # "and compounded?": add it to what is on screen, or show it alone.
            shown = (
                content.valid(focus + [option], content.option_ids)
                if option not in focus
                else [option]
            )
            dims = [view] if view in content.dimension_ids else None
            reply = content.table(shown, dims, clinic(tracker))
        else:
            shown = [option]
            reply, view = content.table(shown, clinic=clinic(tracker)), "table"
    else:
        shown = everything
        reply, view = content.menu(clinic(tracker)), "menu"

    say(dispatcher, reply, tracker)
    return leave_open_form(tracker) + [
        SlotSet(CONTEXT_SLOT, COMPARE),
        SlotSet("da_options", list(shown)),
        SlotSet("da_view", view),
    ]


def answer_within_comparison(
    dispatcher: CollectingDispatcher, tracker: Tracker, key: Text, options: List[Text]
) -> List[EventType]:
    """A comparison question that an FAQ answer covers best ("which is strongest?"):
    that answer, with the comparison still open for the next question."""
    dispatcher.utter_message(response=f"utter_{FAQ_INTENT}/{key}")
    events = leave_open_form(tracker) + [SlotSet(CONTEXT_SLOT, COMPARE)]
    if options:
        events.append(SlotSet("da_options", list(options)))
    return events


class ActionDaCompare(Action):
    """Start or continue the comparison: menu, whole table, two options, one topic."""

    def name(self) -> Text:
        return "action_da_compare"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        content = aid(tracker)
        text = user_text(tracker)
        options = content.valid(
            entity_values(tracker, "option"), content.option_ids
        ) or content.find_options(text)
        named = content.valid(entity_values(tracker, "dimension"), content.dimension_ids)
        answer = None if named else content.question_faq(text)
        if answer:
            return answer_within_comparison(dispatcher, tracker, answer, options)
        dimensions = named or content.find_dimensions(text)
        topic_row = content.dimension_for_faq(tracker.get_slot(TOPIC_SLOT))
        if (
            not dimensions
            and len(options) == 1
            and topic_row
            and tracker.get_slot(CONTEXT_SLOT) != COMPARE
            and is_elliptical(text)
        ):
            # "What about Spravato?" after the insurance answer: that option's
            # insurance row, not everything about it.
            dimensions = [topic_row]
        return compare(dispatcher, tracker, options, dimensions, intent_of(tracker))


def troubleshoot(
    dispatcher: CollectingDispatcher, tracker: Tracker, situation: Optional[Text]
) -> List[EventType]:
    say(dispatcher, aid(tracker).troubleshooting(situation), tracker)
    return leave_open_form(tracker) + [SlotSet(CONTEXT_SLOT, TROUBLESHOOT)]


class ActionDaFollowup(Action):
    """An FAQ-like, unclear or off-topic-looking message while a comparison or
    troubleshooting is on screen.

    If it is about an option, a topic or a situation of the tool on screen
    ("what about insurance?", "and compounded?", "it wore off"), it is answered
    within the tool. Any other FAQ gets its normal FAQ answer and the person
    has left the tool; an unclear message gets the usual fallback reply and
    the tool stays on screen.
    """

    def name(self) -> Text:
        return "action_da_followup"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        content = aid(tracker)
        context = tracker.get_slot(CONTEXT_SLOT)
        text = user_text(tracker)
        key = faq_key(tracker)

        if context == COMPARE:
            options = content.find_options(text)
            # A question no row names counts only when it compares ("which is
            # safest?"); "is an infusion safe?" is an FAQ question.
            compares = content.compares(text)
            answer = content.question_faq(text) if compares else None
            if answer:
                return answer_within_comparison(dispatcher, tracker, answer, options)
            dimensions = content.find_dimensions(text, questions=compares)
            faq_dimension = content.dimension_for_faq(key)
            if not dimensions and faq_dimension:
                dimensions = [faq_dimension]
            if dimensions:
                return compare(dispatcher, tracker, options, dimensions, None)
            # An option alone counts only as a short follow-up ("and compounded?",
            # "what about Spravato?"); "how long does an infusion take?" is an FAQ.
            faq_options = content.options_for_faq(key)
            if options and (is_elliptical(text) or set(faq_options) & set(options)):
                return compare(dispatcher, tracker, options, [], None)
        elif context == TROUBLESHOOT:
            situation = content.find_situation(text) or content.situation_for_faq(key)
            if situation:
                return troubleshoot(dispatcher, tracker, situation)

        if intent_of(tracker) == FALLBACK_INTENT:
            # Not understood: say so, and keep the tool on screen for a retry.
            dispatcher.utter_message(response=FALLBACK_RESPONSE)
            return []
        if intent_of(tracker) == OUT_OF_SCOPE_INTENT:
            # "cheaper?" read as off-topic names no row: it really is off-topic.
            dispatcher.utter_message(response=OUT_OF_SCOPE_RESPONSE)
            return []
        dispatcher.utter_message(response=faq_response(tracker) or FALLBACK_RESPONSE)
        return [SlotSet(CONTEXT_SLOT, None)]


class ActionDaStop(Action):
    """The person is done: close any open tool and say how to come back."""

    def name(self) -> Text:
        return "action_da_stop"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        say(dispatcher, aid(tracker).stop(), tracker)
        return leave_open_form(tracker) + [
            SlotSet(CONTEXT_SLOT, None),
            SlotSet("da_view", None),
            SlotSet("da_options", None),
        ]


# ----------------------------------------------------------------------
# What matters most to you (values_form)
# ----------------------------------------------------------------------
def _context_reset(tracker: Tracker) -> List[EventType]:
    return [SlotSet(CONTEXT_SLOT, None)] if tracker.get_slot(CONTEXT_SLOT) else []


class ActionAskDaValues(Action):
    def name(self) -> Text:
        return "action_ask_da_values"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        say(dispatcher, aid(tracker).values_question(), tracker)
        return _context_reset(tracker)


def fresh_user_turn(tracker: Tracker, form: Text) -> bool:
    """True when the form runs right after the person spoke.

    Rasa calls the validation action with a copy of the tracker that ends with
    the form's own ActionExecuted. Before it, a user message means "this is an
    answer"; another action (e.g. utter_faq after an FAQ question asked inside
    the form) means the form is only asking again.
    """
    seen_form = False
    for event in reversed(tracker.events or []):
        kind = event.get("event")
        if kind == "action" and event.get("name") == form and not seen_form:
            seen_form = True
            continue
        if kind in ("slot", "active_loop", "user_featurization"):
            continue
        return kind == "user"
    return False


class ValidateValuesForm(FormValidationAction):
    """Reads "what matters most" from buttons or free text ("cost and speed")."""

    def name(self) -> Text:
        return "validate_values_form"

    async def extract_da_values(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if not fresh_user_turn(tracker, VALUES_FORM):
            return {}
        content = aid(tracker)
        intent = intent_of(tracker)
        chosen = entity_values(tracker, "value")
        if da.ALL in chosen or intent == da.INTENT_NOT_SURE:
            return {"da_values": list(content.value_ids)}
        values = content.valid(chosen, content.value_ids)
        text = user_text(tracker)
        if not values and text and not (intent in QUESTION_INTENTS and looks_like_question(text)):
            values = content.find_values(text)
        return {"da_values": values} if values else {}

    def validate_da_values(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> Dict[Text, Any]:
        values = aid(tracker).valid(
            slot_value if isinstance(slot_value, list) else [slot_value], aid(tracker).value_ids
        )
        return {"da_values": values or None}


class ActionValuesSummary(Action):
    """How each option stands on what matters to the person, then a copyable summary."""

    def name(self) -> Text:
        return "action_values_summary"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        content = aid(tracker)
        form_just_finished = tracker.latest_action_name == VALUES_FORM
        if form_just_finished:
            values = list(tracker.get_slot("da_values") or [])
        else:  # a "choose_value" button or message: add to what was shown
            new = content.valid(entity_values(tracker, "value"), content.value_ids + [da.ALL])
            if not new and user_text(tracker):
                new = content.find_values(user_text(tracker))
            values = list(tracker.get_slot("da_values_shown") or []) + new
            if da.ALL in values:
                values = list(content.value_ids)
        values = content.valid(values, content.value_ids)
        for reply in content.values_view(values, clinic(tracker)):
            say(dispatcher, reply, tracker)
        return (
            leave_open_form(tracker)
            + _context_reset(tracker)
            + [
                SlotSet("da_values_shown", values or None),
                SlotSet("da_values", None),
            ]
        )


# ----------------------------------------------------------------------
# Candidate checklist (checklist_form)
# ----------------------------------------------------------------------
class _AskChecklist:
    """Asks one checklist question (mixed into one Action class per slot)."""

    slot = ""

    def name(self) -> Text:
        return f"action_ask_{self.slot}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        say(dispatcher, aid(tracker).checklist_question(self.slot), tracker)
        return _context_reset(tracker)


class ActionAskClHistory(_AskChecklist, Action):
    slot = "cl_history"


class ActionAskClSymptoms(_AskChecklist, Action):
    slot = "cl_symptoms"


class ActionAskClGoals(_AskChecklist, Action):
    slot = "cl_goals"


class ActionAskClSafety(_AskChecklist, Action):
    slot = "cl_safety"


class ActionAskClHealth(_AskChecklist, Action):
    slot = "cl_health"


class ActionChecklistSummary(Action):
    """Reflects the answers back and ends with "bring this to a clinician"."""

    def name(self) -> Text:
        return "action_checklist_summary"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        content = aid(tracker)
        answers = {slot: tracker.get_slot(slot) for slot in content.checklist_slots}
        say(dispatcher, content.checklist_summary(answers), tracker)
        # The answers are personal: keep them only as long as needed.
        return [SlotSet(slot, None) for slot in content.checklist_slots]


# ----------------------------------------------------------------------
# Troubleshooting, questions to ask, guide for therapists
# ----------------------------------------------------------------------
class ActionTroubleshoot(Action):
    def name(self) -> Text:
        return "action_troubleshoot"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        content = aid(tracker)
        chosen = entity_values(tracker, "situation")
        situation = (
            da.ALL
            if da.ALL in chosen
            else next(iter(content.valid(chosen, content.situation_ids)), None)
        )
        if situation is None and user_text(tracker):
            situation = content.find_situation(user_text(tracker))
        return troubleshoot(dispatcher, tracker, situation)


class ActionQuestionsToAsk(Action):
    def name(self) -> Text:
        return "action_questions_to_ask"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        say(dispatcher, aid(tracker).questions(), tracker)
        return leave_open_form(tracker) + _context_reset(tracker)


class ActionTherapistReferral(Action):
    def name(self) -> Text:
        return "action_therapist_referral"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        part = "role" if intent_of(tracker) == da.INTENT_THERAPIST_ROLE else "criteria"
        say(dispatcher, aid(tracker).therapist(part), tracker)
        return leave_open_form(tracker) + _context_reset(tracker)
