"""Decision-aid content review (issue 17): the IPDAS checks a program can make.

The International Patient Decision Aid Standards ask for options described with
their positive and negative features in equal detail, sources and dates, and no
steering. What a program can check, it checks here, on every text the bot, the
widget's table and the staff console send (one source: data/responses/*.yml,
domain.yml, bot/content/*.yml):

- balance: every option of the comparison has upsides and cautions of comparable
  detail (the shorter side at least half the longer, by words), and the points
  the review found one-sided now carry the other side;
- traceability: every answer names its seed page(s), a review date and its
  clinical sign-off state; a list of seed facts, each found on its page and in
  the answer that gives it;
- disagreements: where the seed pages disagree, the answer says that clinics'
  pages differ and gives the cautious reading, and no text states one page's
  side alone;
- claims no stronger than the pages (the overstatements the review found);
- no steering: no deferral contains a booking line; an answer that could steer
  says the clinic offers these treatments itself; no verdict about the person;
  TMS only with the note that the pages don't describe it;
- harms a tap away: an answer that names a treatment has that treatment's main
  downsides in its own text or one tap away (a button to its upsides and cautions).

Only the last test class needs the trained model (the `bot` fixture).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
import yaml

from bot import content
from bot import decision_aid as da
from bot.channels import NOT_TRIGGERABLE

ROOT = Path(__file__).resolve().parent.parent
SEED_DIR = ROOT.parent / "shared" / "seeds"  # shared/ sits beside the repo
S0, S1, S2, S3 = (
    "000_ba61a56dcce6168e.txt",
    "001_afcab3168b02a218.txt",
    "002_b3d1ab8cf04194ff.txt",
    "003_55c8d5fb2a2f38db.txt",
)
SEEDS = {S0, S1, S2, S3}
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# "needs sign-off", or "signed off YYYY-MM-DD by <role or name>"
# (README: how an answer is reviewed).
SIGN_OFF = re.compile(r"^(needs sign-off|signed off (?P<date>\d{4}-\d{2}-\d{2}) by \S.*)$")
# Replies someone else is rewriting (none now: the crisis reply has landed).
PENDING_ELSEWHERE: set = set()

RAW = content.raw_responses()
# The English texts are reviewed here; each Spanish variant is checked against
# its English one in tests/test_spanish.py.
ANSWERS = [a for a in content.answers() if a.name not in PENDING_ELSEWHERE and a.language == "en"]
BY_NAME: Dict[str, content.Answer] = {a.name: a for a in ANSWERS if a.language == "en"}
AID = da.load()
REPLIES = list(AID.all_replies())
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
COMPARISON = yaml.safe_load(da.COMPARISON_FILE.read_text(encoding="utf-8"))
TOOLS = yaml.safe_load(da.TOOLS_FILE.read_text(encoding="utf-8"))
SYSTEM = yaml.safe_load(
    (ROOT / "bot" / "content" / "system_messages.yml").read_text(encoding="utf-8")
)

DIFFER = re.compile(r"\b(clinics'|clinic's)? ?(pages )?differ\b|\bclinics differ\b", re.I)
DISCLOSURE = re.compile(r"\boffers\b.*\bitself\b", re.I | re.S)

# How an option is named in a text (not the bare word "infusion", which names a
# step of a visit, not the option).
OPTION_NAMES = {
    "iv": re.compile(
        r"\bIV ketamine\b|\bIV (infusions?|or IM)\b|\bintravenous|\bketamine infusions?\b", re.I
    ),
    "spravato": re.compile(r"\bspravato\b|\besketamine\b|\bnasal spray\b", re.I),
    "compounded": re.compile(r"\bcompounded\b|\blozenges?\b|\btroches?\b", re.I),
}
HARMS = r"detached|dizz|nause|\bsick\b|blood pressure|side effect|sleep"
# An option's main downsides, in groups; a text "has" them when it covers two groups.
DOWNSIDES = {
    "iv": [
        HARMS,
        r"pay (for it )?yourself|out of pocket|not covered|insurance|\bcost",
        r"needle|\bdriv|off-label|visit",
    ],
    "spravato": [HARMS, r"2 hours|\bdriv|certified clinic"],
    "compounded": [
        HARMS,
        r"oversight|at home|no one is there|higher risk",
        r"not FDA|off-label|cash|not covered",
    ],
}
# Free-text buttons of the greeting and help replies that lead to the harms.
GENERAL_DOWNSIDES_PAYLOADS = {
    "What are the side effects of ketamine?": "side_effects",
    "Who should not get ketamine treatment?": "who_should_avoid",
}


def words(text: str) -> int:
    return len(re.findall(r"[A-Za-z0-9'-]+", text))


def cells() -> Iterator[Tuple[str, str]]:
    for option in AID.option_ids:
        for dimension in AID.dimension_ids:
            yield f"cell:{option}/{dimension}", AID.cell(option, dimension)[0]


def tool_strings() -> Iterator[Tuple[str, str]]:
    for i, text in enumerate(content.strings_in(TOOLS)):
        if len(text.split()) > 3:  # labels, ids and aliases carry no claims
            yield f"tools.yml#{i}", " ".join(text.split())


def all_texts() -> List[Tuple[str, str]]:
    """Every reviewed text at the granularity it was written: answer, cell, tool string."""
    texts = [(a.name, a.text) for a in ANSWERS]
    texts += list(cells())
    texts += list(tool_strings())
    texts += [(f"system:{k}", " ".join(v["text"].split())) for k, v in SYSTEM.items()]
    return texts


TEXTS = all_texts()


def text_of(name: str) -> str:
    """An answer's text, or a comparison cell's ("cell:iv/insurance")."""
    if name.startswith("cell:"):
        option, dimension = name[5:].split("/")
        return AID.cell(option, dimension)[0]
    return BY_NAME[name].text


# ======================================================================
# Balance (IPDAS: positive and negative features in equal detail)
# ======================================================================
@pytest.mark.parametrize("option", AID.option_ids)
def test_every_option_has_upsides_and_cautions_of_comparable_detail(option):
    upsides = AID.cell(option, "upsides")[0]
    cautions = AID.cell(option, "cautions")[0]
    up, down = words(upsides), words(cautions)
    assert min(up, down) >= 0.5 * max(up, down), (option, up, down)
    for side in (upsides, cautions):
        assert len(re.findall(r"[.!?](\s|$)", side)) >= 2, side


# The one-sided answers the review found, and the other side each must now give.
BALANCE_POINTS = {
    "utter_faq/why_iv": [
        r"needle",
        r"visit",
        r"blood pressure",
        r"pay for it yourself",
        r"off-label",
    ],
    "utter_faq/what_is_spravato": [r"detached|dizz", r"2 hours", r"driv"],
    "utter_faq/what_is_iv_ketamine": [r"blood pressure", r"detached", r"off-label"],
    "cell:iv/cautions": [r"visits", r"needle"],
    "cell:spravato/cautions": [r"2 hours"],
    "utter_faq/session_experience": [r"rare cases.*distressing"],
    "utter_faq/feels_like": [r"rare cases.*distressing"],
    "utter_faq/history": [r"In spite of", r"misused"],
    "utter_faq/conditions_treated": [
        r"not always a first-line treatment for anxiety",
        r"PTSD.*evidence is growing",
        r"bipolar disorder",
        r"menopause",
        r"pain protocols differ",
    ],
    "utter_faq/candidate": [r"psychosis", r"stopped other medicines because of side effects"],
    "utter_faq/vs_antidepressants": [r"side effects"],
    "utter_faq/side_effects": [
        r"fast or irregular heartbeat",
        r"confusion or irritability",
        r"muscle twitching",
        r"constipation",
        r"blurry or double vision",
        r"thirst or saliva",
        r"hallucinations",
        r"nightmares",
    ],
}


@pytest.mark.parametrize("name", sorted(BALANCE_POINTS))
def test_answers_the_review_found_one_sided_now_give_both_sides(name):
    text = text_of(name)
    missing = [p for p in BALANCE_POINTS[name] if not re.search(p, text, re.I | re.S)]
    assert missing == [], (name, text)


# ======================================================================
# Traceability: sources, review dates, clinical sign-off
# ======================================================================
def _variants() -> List[Tuple[str, dict]]:
    return [(name, v) for name, variants in RAW.items() for v in variants or []]


def _check_review(meta: dict, where: str) -> None:
    reviewed = str(meta.get("reviewed", ""))
    assert ISO_DATE.match(reviewed), f"{where}: review date {reviewed!r}"
    marker = str(meta.get("clinical_review", ""))
    match = SIGN_OFF.match(marker)
    assert match, (
        f"{where}: clinical_review must be 'needs sign-off' or "
        f"'signed off <date> by <who>', got {marker!r}"
    )
    if match.group("date"):
        assert match.group("date") >= reviewed, f"{where}: signed off before its last review"


@pytest.mark.parametrize(
    "name, variant",
    [nv for nv in _variants() if nv[0] not in PENDING_ELSEWHERE],
    ids=[n for n, _ in _variants() if n not in PENDING_ELSEWHERE],
)
def test_every_answer_has_a_source_a_review_date_and_a_sign_off_marker(name, variant):
    meta = variant.get("metadata") or {}
    _check_review(meta, name)
    sources = meta.get("source")
    assert isinstance(sources, list) and set(sources) <= SEEDS, (name, sources)
    if name.startswith(("utter_faq/", "utter_advice/")):
        assert sources, f"{name}: every FAQ and advice answer names its seed page"


def test_content_files_have_a_review_date_and_a_sign_off_marker():
    _check_review(COMPARISON, "comparison.yml")
    _check_review(TOOLS, "tools.yml")
    for key, message in SYSTEM.items():
        _check_review(message, f"system_messages.yml:{key}")


def test_crisis_reply_is_marked_for_clinical_sign_off():
    for variant in RAW["utter_crisis"]:
        assert SIGN_OFF.match(str((variant.get("metadata") or {}).get("clinical_review", "")))


def _norm(text: str) -> str:
    text = (
        text.replace("\u2019", "'")
        .replace("\u2018", "'")
        .replace("\u201c", '"')
        .replace("\u201d", '"')
    )
    return re.sub(r"\s+", " ", text)


# A seed fact: (its page, a phrase of the page, the answer that gives it, a phrase of the answer).
# The sentence-by-sentence pass over the four pages; each visitor-facing fact has an answer.
SEED_FACTS = [
    (S0, r"highest bioavailability", "utter_faq/bioavailability", r"nearly all"),
    (
        S0,
        r"Suicidal thoughts often reduce within hours",
        "utter_faq/suicidal_thoughts",
        r"ease within hours",
    ),
    (
        S0,
        r"relief before leaving the clinic",
        "utter_faq/how_fast",
        r"before they leave the clinic",
    ),
    (
        S0,
        r"Medically cleared for monitored infusions",
        "utter_faq/medically_cleared",
        r"medical check",
    ),
    (
        S0,
        r"Limited benefit from ketamine lozenges or intranasal ketamine",
        "utter_faq/tried_other_forms",
        r"little benefit from ketamine lozenges or nasal ketamine",
    ),
    (S0, r"Effects that fade too quickly", "utter_faq/tried_other_forms", r"fade too fast"),
    (S0, r"KAP trained therapist", "utter_faq/kap", r"therapists are trained"),
    (S0, r"not a magic cure", "utter_faq/is_it_a_cure", r"rarely a cure"),
    (S1, r"not the first line of treatment", "utter_faq/first_line", r"Usually not"),
    (
        S1,
        r"must be referred by their current treating psychiatrist",
        "utter_faq/referral",
        r"needs a referral",
    ),
    (S1, r"Postmenopausal Depression", "utter_faq/conditions_treated", r"after menopause"),
    (S1, r"Bi-Polar Disorder", "utter_faq/conditions_treated", r"bipolar disorder"),
    (S1, r"Migraine Headaches", "utter_faq/conditions_treated", r"migraine"),
    (
        S1,
        r"Medicare, Medicaid, and private insurance carriers do not pay",
        "utter_faq/insurance",
        r"Medicare, Medicaid and private plans",
    ),
    (S1, r"Workers' Compensation", "utter_faq/workers_comp", r"workers' compensation"),
    (
        S1,
        r"controlled, lower doses for mental health",
        "utter_faq/anesthetic_vs_low_dose",
        r"controlled lower doses",
    ),
    (
        S1,
        r"bypasses other organs, such as the stomach or liver",
        "utter_faq/bioavailability",
        r"stomach and liver",
    ),
    (
        S1,
        r"Many sources are currently working to seek FDA approval",
        "utter_faq/fda_status",
        r"toward FDA approval",
    ),
    (
        S1,
        r"multiple scientific articles and clinical trials",
        "utter_faq/evidence",
        r"clinical trials",
    ),
    (S1, r"light meal a few hours before", "utter_faq/preparation", r"light meal"),
    (S1, r"calming playlist", "utter_faq/preparation", r"playlist"),
    (S1, r"alcohol or recreational drugs 24 hours before", "utter_faq/alcohol", r"24 hours before"),
    (S1, r"public transportation", "utter_faq/driving_after", r"public transport"),
    (S1, r"at least 24 hours", "utter_faq/driving_after", r"at least 24 hours"),
    (S1, r"Avoid alcohol for at least 48 hours", "utter_faq/aftercare", r"48 hours"),
    (S1, r"journal their feelings", "utter_faq/aftercare", r"journal"),
    (
        S1,
        r"significant decisions or emotionally charged discussions",
        "utter_faq/aftercare",
        r"big decisions",
    ),
    (S1, r"residual stiffness", "utter_faq/aftercare", r"stretching"),
    (S1, r"cognitive-behavioral therapy", "utter_faq/other_options", r"CBT"),
    (S1, r"hallucinations during the infusion", "utter_faq/side_effects", r"hallucinations"),
    (S1, r"40 minutes to an hour", "utter_faq/session_length", r"40 to 60 minutes"),
    (S1, r"after just one or two sessions", "utter_faq/number_of_sessions", r"one or two sessions"),
    (S1, r"low risk of addiction", "utter_faq/addiction", r"pages differ"),
    (
        S2,
        r"mixture of two mirror-image molecules",
        "utter_faq/ketamine_vs_esketamine",
        r"mirror-image",
    ),
    (S2, r"greater antidepressant efficacy compared to placebo", "utter_faq/evidence", r"placebo"),
    (S2, r"anywhere from days to weeks", "utter_faq/how_long_effects_last", r"days to weeks"),
    (
        S2,
        r"six infusions given over two to three weeks",
        "utter_faq/number_of_sessions",
        r"six infusions",
    ),
    (
        S2,
        r"may recommend maintenance ketamine infusions every three to four weeks",
        "utter_faq/maintenance",
        r"may recommend",
    ),
    (
        S2,
        r"used for the treatment of suicidal ideations",
        "utter_faq/suicidal_thoughts",
        r"used for suicidal thoughts",
    ),
    (S2, r"mania, active psychosis", "utter_faq/who_should_avoid", r"mania"),
    (S2, r"similar chemical structure to phencyclidine", "utter_faq/pcp", r"phencyclidine \(PCP\)"),
    (S2, r"first tested in humans in 1964", "utter_faq/history", r"1964"),
    (S2, r"In spite of the potential abuse liability", "utter_faq/history", r"In spite of"),
    (
        S2,
        r"complete loss of consciousness while preserving certain protective reflexes",
        "utter_faq/anesthetic_vs_low_dose",
        r"protective reflexes",
    ),
    (
        S2,
        r"subanesthetic doses, it helps ease pain",
        "utter_faq/anesthetic_vs_low_dose",
        r"eases pain",
    ),
    (S2, r"not entirely clear how ketamine works", "utter_faq/how_it_works", r"not entirely clear"),
    (S2, r"safe private infusion room", "utter_faq/room", r"private infusion room"),
    (S2, r"comfortable reclining chair", "utter_faq/room", r"reclining chair"),
    (S2, r"conscious and awake the entire time", "utter_faq/anesthetic_vs_low_dose", r"stay awake"),
    (
        S2,
        r"infusion procedure can be immediately stopped",
        "utter_faq/uncomfortable_during",
        r"stopped right away",
    ),
    (S2, r"at least 20-30 minutes", "utter_faq/session_length", r"at least 20 to 30 minutes"),
    (
        S2,
        r"primary care physician or psychiatrist",
        "utter_faq/follow_up",
        r"your own doctor or psychiatrist",
    ),
    (S2, r"by phone and email", "utter_faq/follow_up", r"phone, email"),
    (S2, r"Fast or irregular heart beat", "utter_faq/side_effects", r"fast or irregular heartbeat"),
    (S2, r"Confusion or irritability", "utter_faq/side_effects", r"confusion or irritability"),
    (S2, r"Muscle twitching or jerks", "utter_faq/side_effects", r"muscle twitching or jerks"),
    (S2, r"Increased thirst or salivation", "utter_faq/side_effects", r"thirst or saliva"),
    (S2, r"Change in the taste sensation", "utter_faq/side_effects", r"change in taste"),
    (S2, r"Constipation", "utter_faq/side_effects", r"constipation"),
    (S2, r"Blurry or double vision", "utter_faq/side_effects", r"blurry or double vision"),
    (S2, r"clumsy, unsteady", "utter_faq/side_effects", r"clumsy"),
    (S2, r"NOT covered by any insurance plan", "utter_faq/insurance", r"no insurance pays"),
    (S2, r"office visit and initial consultation", "utter_faq/insurance", r"office visit"),
    (S2, r"slight pinching sensation", "utter_faq/iv_pain", r"slight pinching"),
    (S2, r"approximately 3 out of 4 patients", "utter_faq/response_rate", r"3 in 4"),
    (S2, r"you do not need a referral", "utter_faq/referral", r"needs no referral"),
    (
        S2,
        r"safe to administer with most antidepressants",
        "utter_faq/medications_alongside",
        r"safe to give with most antidepressants",
    ),
    (
        S3,
        r"at least two different antidepressant trials",
        "utter_faq/candidate",
        r"at least two antidepressants",
    ),
    (S3, r"weight gain, sexual dysfunction, or fatigue", "utter_faq/candidate", r"weight gain"),
    (
        S3,
        r"not always a first-line treatment for pure anxiety",
        "utter_faq/first_line",
        r"not always a first-line",
    ),
    (
        S3,
        r"protocols differ significantly from mental health dosing",
        "utter_faq/anesthetic_vs_low_dose",
        r"pain protocols differ",
    ),
    (
        S3,
        r"Clinical evidence is growing for Post-Traumatic Stress Disorder",
        "utter_faq/evidence",
        r"PTSD it is growing",
    ),
    (
        S3,
        r"does not mean ketamine \"rewires\" the brain permanently after one dose",
        "utter_faq/rewire",
        r"does not mean it rewires the brain for good after one dose",
    ),
    (
        S3,
        r"FDA-approved for TRD and depression with suicidality",
        "utter_faq/what_is_spravato",
        r"depression with suicidal thoughts",
    ),
    (
        S3,
        r"covered by Medicare and most commercial plans",
        "utter_faq/insurance",
        r"Medicare and most commercial plans",
    ),
    (S3, r"2-hour monitoring", "utter_faq/spravato_observation", r"about 2 hours"),
    (
        S3,
        r"Staff monitors you for dissociation, blood pressure spikes, or sedation",
        "utter_faq/spravato_observation",
        r"feeling detached, blood pressure spikes and sleepiness",
    ),
    (
        S3,
        r"released to a friend or family member who drives you home",
        "utter_faq/companion_wait",
        r"goes home with you",
    ),
    (S3, r"lowest safety oversight", "utter_faq/at_home", r"lowest safety oversight"),
    (S3, r"quiet and dim", "utter_faq/room", r"quiet and dim"),
    (
        S3,
        r"uncontrolled hypertension or aneurysm history",
        "utter_faq/blood_pressure_aneurysm",
        r"past aneurysm",
    ),
    (S3, r"Bladder Issues", "utter_faq/risks_screening", r"Bladder"),
    (S3, r"pregnant or breastfeeding", "utter_advice/pregnancy", r"breastfeeding"),
    (S3, r"telepsychiatry options for follow-up care", "utter_faq/follow_up", r"telehealth"),
    (S3, r"IV or IM ketamine", "utter_faq/im_injection", r"IV or IM ketamine"),
    (S3, r"Sedation or lethargy", "utter_faq/side_effects", r"Sleepiness"),
    (S3, r"Ignoring Sleep and Diet", "utter_faq/common_mistakes", r"sleep and diet"),
    (S3, r"4.8 weeks", "utter_faq/vs_antidepressants", r"4 to 8 weeks"),
    (S3, r"Please call 988", "utter_faq/who_should_avoid", r"988"),
]


@pytest.mark.parametrize(
    "seed, seed_phrase, name, answer_phrase",
    SEED_FACTS,
    ids=[f"{f[2]}:{f[3][:30]}" for f in SEED_FACTS],
)
def test_seed_facts_are_answered_and_traceable_to_their_page(
    seed, seed_phrase, name, answer_phrase
):
    answer = BY_NAME[name]
    assert re.search(answer_phrase, answer.text, re.I), (name, answer_phrase, answer.text)
    assert seed in answer.sources, (
        f"{name} states a fact of {seed} but does not name it as a source"
    )
    page = SEED_DIR / seed
    if page.is_file():  # the seed pages sit beside the repository
        assert re.search(seed_phrase, _norm(page.read_text(encoding="utf-8")), re.I), (
            seed,
            seed_phrase,
        )


# ======================================================================
# Where the pages disagree
# ======================================================================
# Each known disagreement: the answers (and comparison cells) that address it must
# say that clinics' pages differ (`says`) and give the cautious reading; any other
# text that states one page's side (`one_sided`) must do the same.
DRIVING_ONE_SIDED = (
    r"\bdriv[^.]*\b(rest of the day|on the day|that day)\b"
    r"|\b(rest of the day|on the day|that day)\b[^.]*\bdriv"
)
DISAGREEMENTS = {
    "iv_insurance": dict(
        pages="001 and 002: no insurance plan pays for IV ketamine; 003: rarely covered",
        answers=[
            "utter_faq/insurance",
            "utter_faq/cost",
            "utter_faq/im_injection",
            "cell:iv/insurance",
        ],
        one_sided=(
            r"\brarely (covered|covers?)\b|\bnot covered by any\b"
            r"|\bno (insurance|plan)\b|\bdo not pay\b"
        ),
        cautious=r"expect to pay",
    ),
    "driving": dict(
        pages="001: no driving for at least 24 hours; 002 and 003: not for the rest of the day",
        answers=[
            "utter_faq/driving_after",
            "utter_faq/spravato_observation",
            "utter_faq/common_mistakes",
            "cell:spravato/cautions",
        ],
        one_sided=DRIVING_ONE_SIDED,
        cautious=r"at least 24 hours",
    ),
    "psychosis": dict(
        pages="002: not given with active psychosis; "
        "003: avoid with any history of psychosis or schizophrenia",
        answers=["utter_faq/who_should_avoid", "utter_advice/safe_for_me", "cell:iv/cautions"],
        one_sided=r"\bactive psychosis\b",
        cautious=r"history",
    ),
    "onset": dict(
        pages="000 and 001 (IV clinics) say IV works faster than other forms and name no study; "
        "no page gives Spravato's or compounded ketamine's speed",
        answers=["utter_faq/why_iv", "cell:iv/speed"],
        one_sided=r"faster than (with )?(pills|tablets|a nasal spray|nasal sprays|other forms)",
        says=r"IV clinics'? (own )?(claim|pages say|say)|IV clinics' own",
        cautious=r"no study",
    ),
    "addiction": dict(
        pages="002: no evidence it is addictive in small doses, few studies; 001: low risk; "
        "003: a controlled substance with a potential for misuse",
        answers=["utter_faq/addiction"],
        one_sided=r"no evidence (that )?(it|ketamine) (is|can lead to) addict",
        cautious=r"can still be misused",
    ),
    "rewire": dict(
        pages="001: may potentially 'rewire' parts of the brain; "
        "003: does not mean it rewires the brain permanently after one dose",
        answers=["utter_faq/rewire"],
        one_sided=r"\brewir",
        cautious=r"does not mean",
    ),
    "referral": dict(
        pages="001: mental-health infusions need a referral from the treating psychiatrist; "
        "002: no referral needed",
        answers=["utter_faq/referral", "utter_advice/diagnosis"],
        one_sided=(
            r"\bneeds (a|no) referral\b|\brequires a referral\b"
            r"|\bneed (a|no) referral\b(?![^.]*\?)"
        ),
        cautious=r"ask the clinic",
    ),
    "age": dict(
        pages="001 lists adolescent and geriatric mental health; 002: not prescribed for children",
        answers=["utter_faq/age_limits"],
        one_sided=r"do not give it to children|not (for|given to) children",
        cautious=r"Age (limits|rules) (vary|differ)|Ask the clinic",
    ),
}


@pytest.mark.parametrize("key", sorted(DISAGREEMENTS))
def test_known_disagreements_say_clinics_differ_with_the_cautious_reading(key):
    item = DISAGREEMENTS[key]
    says = re.compile(item.get("says") or DIFFER.pattern, re.I)
    for name in item["answers"]:
        text = text_of(name)
        assert says.search(text), f"{key}: {name} must say that the pages differ: {text}"
        assert re.search(item["cautious"], text, re.I), (
            f"{key}: {name} lacks the cautious reading: {text}"
        )
        if not name.startswith("cell:"):
            meta = RAW[name][0].get("metadata") or {}
            assert key in (meta.get("pages_differ") or []), (
                f"{name}: metadata.pages_differ should name {key}"
            )


@pytest.mark.parametrize("key", sorted(DISAGREEMENTS))
def test_no_text_states_one_pages_side_alone(key):
    item = DISAGREEMENTS[key]
    says = re.compile(item.get("says") or DIFFER.pattern, re.I)
    one_sided = re.compile(item["one_sided"], re.I)
    bad = [
        (name, text)
        for name, text in TEXTS
        if one_sided.search(text)
        and not (says.search(text) and re.search(item["cautious"], text, re.I))
    ]
    assert bad == [], f"{key} ({item['pages']}): {bad}"


def test_pages_differ_metadata_names_known_disagreements_only():
    for name, variant in _variants():
        listed = (variant.get("metadata") or {}).get("pages_differ") or []
        for key in listed:
            assert key in DISAGREEMENTS, (name, key)
            assert name in DISAGREEMENTS[key]["answers"], (
                f"{name} lists {key}; add it to DISAGREEMENTS"
            )


def test_no_invented_speed_for_spravato_or_compounded():
    for option in ("spravato", "compounded"):
        text = AID.cell(option, "speed")[0]
        assert "pages we use don't" in text and not re.search(r"\d|hours|days|minutes", text)


# ======================================================================
# Claims no stronger than the pages
# ======================================================================
OVERSTATEMENTS = [
    (r"works with most antidepressants", "002 says 'safe to administer with' most antidepressants"),
    (r"often every (three|3) to (four|4) weeks", "002 says the doctor 'may recommend' it"),
    (r"about 20 to 30 minutes", "002 says 'at least 20-30 minutes'"),
    (
        r"most people feel only a small pinch",
        "002 describes a slight pinching sensation, not 'most people'",
    ),
    (r"a pharmacy makes|pharmacy-made", "003 says 'ketamine mixed into lozenges or tablets'"),
    (r"benzodiazepine", "no seed page names benzodiazepines"),
    (r"trying to get pregnant", "no seed page mentions trying to get pregnant"),
    (r"brain stimulation", "no seed page describes TMS"),
    (r"bipolar depression", "001 and 002 say 'bipolar disorder'"),
    (r"watch(es|ing)? you the whole time", "002 says staff check on you frequently"),
    (
        r"\blow risk of (adverse )?side effects\b",
        "001's claim, contradicted by the side effects other pages list",
    ),
    (r"\bbenefit greatly\b|\bmajor breakthrough", "marketing claims of one page"),
]


@pytest.mark.parametrize("pattern, why", OVERSTATEMENTS, ids=[o[0][:30] for o in OVERSTATEMENTS])
def test_no_claim_stronger_than_the_pages(pattern, why):
    bad = [(name, text) for name, text in TEXTS if re.search(pattern, text, re.I)]
    assert bad == [], f"{why}: {bad}"


def test_qualified_claims_keep_their_qualifier():
    for name, text in TEXTS:
        if re.search(r"\b3 (in|out of) 4\b", text):
            assert re.search(r"not name the studies", text), (name, text)
        if re.search(r"every (three|3) to (four|4) weeks", text):
            assert re.search(r"may recommend", text), (name, text)
        if re.search(r"20 to 30 minutes", text):
            assert re.search(r"at least 20 to 30 minutes", text), (name, text)
        if re.search(r"\bTMS\b", text):
            assert re.search(r"don't describe TMS|benefits and risks", text), (
                f"TMS without honest framing: {name}"
            )
    cure = BY_NAME["utter_faq/is_it_a_cure"].text
    assert cure.startswith("Not necessarily"), cure


# ======================================================================
# No steering
# ======================================================================
BOOKING = re.compile(
    r"\bbook|\bschedul(e|ing) a consultation|consultation with|clinic_booking_url|"
    r"clinic_phone|https?://",
    re.I,
)


@pytest.mark.parametrize("name", sorted(n for n in RAW if n.startswith("utter_advice/")))
def test_no_deferral_contains_a_booking_line(name):
    for variant in RAW[name]:
        assert not BOOKING.search(variant["text"]), variant["text"]
        for button in variant.get("buttons") or []:
            assert (
                not BOOKING.search(button["title"]) and "book_consultation" not in button["payload"]
            )
            assert "clinic_contact" not in button["payload"]
        filled = content.fill(variant["text"], content.clinic_profile())
        assert content.clinic_profile()["clinic_phone"] not in filled
        assert content.clinic_profile()["clinic_booking_url"] not in filled


def named_options(text: str) -> List[str]:
    """Options a text names, leaving out the clinic's own disclosure of what it offers."""
    text = text.replace(content.clinic_profile()["clinic_treatments"], "")
    return [o for o, pattern in OPTION_NAMES.items() if pattern.search(text)]


# Topics where naming two or more options amounts to presenting choices (greetings,
# session timing and safety answers name them as facts, not as choices).
CHOICE_TOPICS = {
    "About ketamine therapy",
    "Getting started",
    "Treatment options",
    "Cost and insurance",
    "Personal medical questions",
}
# Answers that could steer even when they name one option: reasons for it, or alternatives.
COULD_STEER = {
    "utter_faq/why_iv",
    "utter_faq/first_step",
    "utter_faq/what_is_spravato",
    "utter_faq/what_is_compounded",
    "utter_faq/at_home",
    "utter_faq/tried_other_forms",
    "utter_faq/not_working",
    "utter_faq/other_options",
    "utter_advice/which_option",
}


def test_the_clinic_says_it_offers_these_treatments_wherever_an_answer_could_steer():
    missing = []
    for answer in ANSWERS:
        if answer.name in ("utter_clinic_contact",):  # says what the clinic offers, by design
            continue
        steers = (
            answer.name in COULD_STEER
            or re.search(r"\bTMS\b", answer.text)
            or (answer.topic in CHOICE_TOPICS and len(named_options(answer.text)) >= 2)
        )
        if steers and not DISCLOSURE.search(answer.text):
            missing.append(answer.name)
    assert missing == []
    profile = content.clinic_profile()
    assert profile["clinic_treatments"] in BY_NAME["utter_faq/why_iv"].text
    for situation in AID.situation_ids:
        assert DISCLOSURE.search(AID.troubleshooting(situation).text), situation


VERDICTS = [
    r"\byou may need a maintenance",
    r"may not work for you",
    r"clinicians often call this",
    r"\byou (may be|are) a (\"?non-responder|good candidate|candidate)",
    r"\byou qualify\b",
    r"(?<!example: )\bafter 4 to 6 sessions\b",
    r"\bthis is (the )?(right|best) (option|treatment) for you",
]


@pytest.mark.parametrize("pattern", VERDICTS)
def test_no_verdict_about_the_person(pattern):
    bad = [(name, text) for name, text in TEXTS if re.search(pattern, text, re.I)]
    assert bad == []


# ======================================================================
# Every treatment named has its main downsides in the text or one tap away
# ======================================================================
def parse_payload(payload: str) -> Tuple[str, Dict]:
    """ "/intent{...}" as Rasa reads it (response files double their braces for Rasa's NLG)."""
    payload = payload.replace("{{", "{").replace("}}", "}")
    match = re.match(r"^/(\w+)(\{.*\})?$", payload)
    assert match, payload
    return match.group(1), json.loads(match.group(2)) if match.group(2) else {}


def _as_list(value) -> List[str]:
    return list(value) if isinstance(value, list) else [value] if value else []


def button_reaches_downsides(payload: str, option: str, reply_name: str = "") -> bool:
    if payload in GENERAL_DOWNSIDES_PAYLOADS:
        return True
    if not payload.startswith("/"):
        return False
    intent, entities = parse_payload(payload)
    if intent == da.INTENT_TABLE:
        return True
    if intent == da.INTENT_NEXT and reply_name.startswith("topic:"):
        current = reply_name.split(":")[1]
        return AID.next_dimension(current) == "cautions"
    if intent == da.INTENT_DIMENSION:
        options = _as_list(entities.get("option"))
        return "cautions" in _as_list(entities.get("dimension")) and (
            not options or option in options
        )
    return False


def has_downsides(text: str, option: str) -> bool:
    if AID.cell(option, "cautions")[0] in text:
        return True
    return sum(bool(re.search(group, text, re.I)) for group in DOWNSIDES[option]) >= 2


def _replies() -> Iterator[Tuple[str, str, List[str]]]:
    for name, variants in RAW.items():
        if name in PENDING_ELSEWHERE:
            continue
        for variant in variants or []:
            if (variant.get("metadata") or {}).get("language", "en") != "en":
                continue
            text = content.fill(variant.get("text") or "", content.clinic_profile())
            yield name, text, [b["payload"] for b in variant.get("buttons") or []]
    for name, reply in REPLIES:
        yield f"aid:{name}", reply.text, [b["payload"] for b in reply.buttons]


REPLY_LIST = list(_replies())


@pytest.mark.parametrize("name, text, payloads", REPLY_LIST, ids=[r[0] for r in REPLY_LIST])
def test_no_answer_names_a_treatment_without_its_downsides_a_tap_away(name, text, payloads):
    for option in named_options(text):
        if has_downsides(text, option):
            continue
        reply_name = name[4:] if name.startswith("aid:") else name
        assert any(button_reaches_downsides(p, option, reply_name) for p in payloads), (
            f"{name} names {option} without its downsides in the text or one tap away"
        )


def test_response_buttons_are_commands_the_channel_lets_through():
    intents = {next(iter(i)) if isinstance(i, dict) else i for i in DOMAIN["intents"]}
    for name, variants in RAW.items():
        for variant in variants or []:
            for button in variant.get("buttons") or []:
                payload = button["payload"]
                if not payload.startswith("/"):
                    assert payload in GENERAL_DOWNSIDES_PAYLOADS or name in (
                        "utter_greet",
                        "utter_help",
                        "utter_fallback",
                    ), payload
                    continue
                intent, entities = parse_payload(payload)
                assert intent in intents and intent not in NOT_TRIGGERABLE, (name, payload)
                assert set(entities) <= set(DOMAIN["entities"]), (name, payload)
                assert set(_as_list(entities.get("dimension"))) <= set(AID.dimension_ids), payload
                assert set(_as_list(entities.get("option"))) <= set(AID.option_ids), payload
                if "{" in payload:
                    assert "{{" in payload, (
                        f"{name}: Rasa fills {{slot}} in buttons; double the braces"
                    )


def test_the_upsides_and_cautions_button_shows_both_sides():
    table = AID.table(["iv"], da.BALANCE_DIMENSIONS)
    assert table.payload["row_ids"] == ["upsides", "cautions"]
    assert (
        AID.cell("iv", "upsides")[0] in table.text and AID.cell("iv", "cautions")[0] in table.text
    )


# ======================================================================
# New topics: training examples (caregivers, and facts that had no answer)
# ======================================================================
NEW_TOPICS = [
    "bioavailability",
    "blood_pressure_aneurysm",
    "medically_cleared",
    "first_line",
    "pcp",
    "anesthetic_vs_low_dose",
    "spravato_observation",
    "companion_wait",
    "companion_during",
    "caregiver_support",
    "could_it_help_loved_one",
    "kap",
    "room",
    "suicidal_thoughts",
    "evidence",
    "rewire",
    "at_home",
    "im_injection",
    "tried_other_forms",
]
CAREGIVER_TOPICS = [
    "companion_wait",
    "companion_during",
    "caregiver_support",
    "could_it_help_loved_one",
]


def _training_examples() -> Dict[str, List[str]]:
    examples: Dict[str, List[str]] = {}
    for path in sorted((ROOT / "data" / "nlu").glob("faq_*.yml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
            lines = [
                line[2:].strip() for line in item["examples"].splitlines() if line.startswith("- ")
            ]
            examples.setdefault(item["intent"], []).extend(lines)
    return examples


def test_new_topics_have_an_answer_and_enough_varied_training_examples():
    examples = _training_examples()
    # Enough to be learned, and never more than the typical older topic, so a
    # new topic does not pull other topics' questions towards itself.
    sizes = sorted(len(v) for k, v in examples.items() if k.startswith("faq/"))
    typical = sizes[len(sizes) // 2]
    for key in NEW_TOPICS:
        assert f"utter_faq/{key}" in RAW, key
        texts = examples.get(f"faq/{key}", [])
        assert 25 <= len(texts) <= typical, (key, len(texts), typical)
        assert len({t.lower() for t in texts}) == len(texts), f"{key}: duplicate examples"


def test_caregiver_answers_speak_to_the_person_asking():
    for key in CAREGIVER_TOPICS:
        text = BY_NAME[f"utter_faq/{key}"].text
        # about "them" / "the person", not "you" as the patient
        assert re.search(r"\b(they|them|their|the person)\b", text), (key, text)
        assert not re.search(r"\byour (infusion|treatment|session)\b", text), (key, text)


def test_suicidal_thoughts_answer_puts_988_first():
    text = BY_NAME["utter_faq/suicidal_thoughts"].text
    assert text.index("988") < text.index("ketamine"), text
    assert "911" in text and re.search(r"own statements|clinics' own", text)


@pytest.mark.parametrize("payload, key", sorted(GENERAL_DOWNSIDES_PAYLOADS.items()))
def test_free_text_downsides_buttons_reach_their_answer(bot, payload, key):
    parse = bot.parse(payload)
    assert parse["intent"]["name"] == "faq"
    assert parse["response_selector"]["faq"]["response"]["intent_response_key"] == f"faq/{key}"


def test_faq_buttons_reach_the_user_with_single_braces(bot):
    replies = bot.say("why get ketamine through an IV instead of other ways")
    buttons = [b for r in replies for b in r.get("buttons") or []]
    assert {
        "title": "IV ketamine: upsides and cautions",
        "payload": '/compare_dimension{"dimension":["upsides","cautions"],"option":"iv"}',
    } in buttons, replies


@pytest.mark.server
def test_rest_a_faq_answers_upsides_and_cautions_button_shows_both_rows(rasa_server):
    """Over the real channel and action server: the button an FAQ answer carries."""
    from tests.conftest import new_sender

    sender = new_sender()
    replies = rasa_server.say(sender, "Why is ketamine given through an IV?")
    buttons = [b for r in replies for b in r.get("buttons") or []]
    payload = next(b["payload"] for b in buttons if "upsides and cautions" in b["title"])
    replies = rasa_server.say(sender, payload)
    tables = [
        r["custom"]
        for r in replies
        if isinstance(r.get("custom"), dict) and r["custom"].get("type") == "comparison_table"
    ]
    assert tables and tables[0]["row_ids"] == ["upsides", "cautions"], replies
    assert tables[0]["column_ids"] == ["topic", "iv"]
    assert DISCLOSURE.search(tables[0]["note"])
