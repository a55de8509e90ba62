"""The questionnaire page's words for staff (``bot.staff.questionnaire``) and the page itself.

Every condition is said in words: the question by its number and first words, the answers by
their labels, numbers as a nurse would say them; which answers raise which flag at which severity;
where an urgent flag leads. The page is read in-process here and in a real browser in
``test_browser.py``.
"""

from __future__ import annotations

from starlette.testclient import TestClient
from support.staff import login, staff_store

from bot.engine import Engine
from bot.staff.questionnaire import Questionnaire
from bot.staff.web import create_app


def steps(guide: Questionnaire) -> dict:
    return {step.id: step for part in guide.parts for step in part.steps}


def test_every_kind_of_condition_is_said_in_words(all_types: Engine) -> None:
    found = steps(Questionnaire(all_types))
    assert found["minor"].when == "Q1 “How old are you?” is under 18"
    assert found["sweat_scale"].when == "Q3 “What would you like to improve?” includes “Sweating”"
    assert found["sweat_where"].when == "Q4 “How much does sweating bother you?” is 3 or more"
    assert found["how_it_went"].when == "Q7 “Had skin Botox before?” is “Once” or “Several times”"
    assert found["extra"].when == (
        "Q1 “How old are you?” is 65 or more; and not (Q3 “What would you like to improve?” includes "
        "“Fine lines” or “Large pores”)"
    )
    assert found["declined"].when == "the consent is “No thanks”"
    assert found["crisis"].when == "the flag “Words about self-harm” was raised"
    assert found["urgent"].when == "any urgent flag was raised"
    assert found["routine"].when is None and found["routine"].topic == "Thank you."  # no topic: first words
    assert found["age"].when is None and found["age"].number == 1 and found["welcome"].number is None


def test_each_answer_says_which_flags_it_can_raise_and_where_an_urgent_one_leads(all_types: Engine) -> None:
    guide = Questionnaire(all_types)
    found = steps(guide)
    [breathing] = found["breathing_now"].flags
    assert (breathing.severity, breathing.topic) == ("urgent", "Trouble breathing or swallowing now")
    assert breathing.when == "the answer is “Yes”"  # said of the question it sits under
    assert breathing.leads_to == (("urgent", "Please seek medical care now."),)
    [sweat] = found["sweat_scale"].flags
    assert sweat.when == "the answer is 3 or more" and sweat.severity == "review" and sweat.leads_to == ()
    [typed] = [f for f in found["goals"].flags if f.id == "self_harm"]
    assert typed.when == "a typed answer mentions “hurt myself” or “end my life”"
    assert typed.leads_to == (("crisis", "You matter. Please call a crisis line now."),)
    # the list of every flag, most severe first, says the question by its number
    assert [f.severity for f in guide.by_severity] == ["urgent", "urgent", "review", "review", "note"]
    older = next(f for f in guide.flags if f.id == "older")
    assert older.when == "Q1 “How old are you?” is 65 or more"


def test_the_default_flow_names_its_endings_and_its_safety_screen(skin: Engine) -> None:
    guide = Questionnaire(skin)
    found = steps(guide)
    assert found["crisis_support"].topic == "Urgent: crisis lines given (words about self-harm or suicide)"
    assert found["crisis_support"].urgent
    [screen] = guide.screens
    assert screen["flag"].severity == "urgent" and screen["asks_first"]
    assert screen["outcome"] == ("crisis_support", "Urgent: crisis lines given (words about self-harm or suicide)")
    assert [p.title for p in guide.parts][:3] == ["Start", "About you", "Safety check"]
    assert guide.parts[-1].title == "Summary and endings"


def test_the_page_shows_it_and_one_section_of_the_diagram(skin: Engine, sqlite_url: str) -> None:
    client = TestClient(create_app(skin, staff_store(sqlite_url), secret_key="test-secret-key"))
    login(client)
    page = client.get("/flow").text
    assert "Asked only when Q2 “Have you ever had botulinum toxin injections (such as…” is" in page
    assert '<span class="flag sev-high">high</span> <strong>Pregnancy, trying to get pregnant' in page
    assert "stateDiagram-v2" in page and "line_areas --&gt; eye_area" in page  # the whole flow
    # its edges in words too: the question by its number (its box says it), the answers by label
    assert "age_band --&gt; under_18_end: Q1 is “Under 18”" in page
    assert "<script>" not in page  # scripts from files only (CSP script-src 'self')
    skin_only = client.get("/flow?section=skin").text
    assert "line_areas --&gt; eye_area" in skin_only and "toxin_last_time --&gt;" not in skin_only
    assert '<option value="skin" selected>Your skin</option>' in skin_only
    unknown = client.get("/flow?section=nope")  # an unknown section: the whole flow, not an error
    assert unknown.status_code == 200 and "toxin_last_time --&gt;" in unknown.text


def test_the_intake_page_names_the_ending_in_words(skin: Engine, sqlite_url: str) -> None:
    from support.patients import InProcessPatient

    from bot.channels.telegram.events import Chat
    from bot.channels.telegram.runner import TurnRunner

    store = staff_store(sqlite_url)
    patient = InProcessPatient(TurnRunner(skin, store), Chat(5, 5, "Ada", None, None, "de"))
    patient.command("/start")
    patient.tap("Weiter")
    patient.tap("Nein danke")
    with store.transaction() as tx:
        intake = tx.current_intake(5)
    client = TestClient(create_app(skin, store, secret_key="test-secret-key"))
    login(client)
    page = client.get(f"/intakes/{intake.id}").text
    # in the staff's words (the flow's default language), whatever the patient's language
    assert "consent_declined: Consent declined: nothing stored" in page


def test_a_german_member_reads_the_questionnaire_page_in_german(skin: Engine, sqlite_url: str) -> None:
    """The page's words from the staff catalog, the flow's words in German where the flow has them."""
    from bot.staff.accounts import Accounts

    store = staff_store(sqlite_url)
    Accounts(store).set_language("adam", "de")
    client = TestClient(create_app(skin, store, secret_key="test-secret-key"))
    login(client, "adam")
    page = client.get("/flow").text
    assert '<html lang="de">' in page and "<h1>Der Fragebogen</h1>" in page
    assert (
        "Nur gefragt, falls gilt: Q2 “Hatten Sie schon einmal Injektionen mit Botulinumtoxin…” ist "
        "“Ja, in den letzten 4 Wochen”, “Ja, vor 1 bis 3 Monaten” oder “Ich bin mir nicht sicher”." in page
    )
    assert '<span class="flag sev-high">hoch</span> <strong>Schwangerschaft, Kinderwunsch oder Stillzeit' in page
    assert "Gesetzt, falls gilt: die Antwort ist “Ja”." in page
    assert "Abschluss: Dringend: sofort ärztliche Hilfe wegen Beschwerden nach einer Injektion" in page
    assert "<h2>Ihre Haut</h2>" in page and "Zusammenfassung und Abschlüsse" in page
    english = TestClient(create_app(skin, store, secret_key="test-secret-key"))
    login(english, "rita")
    assert "Asked only when Q2 “Have you ever had" in english.get("/flow").text  # each member their own


def test_the_diagram_says_any_label_in_a_way_mermaid_can_read() -> None:
    """A flow's labels are the clinic's words: whatever they hold, an edge stays one statement."""
    from bot.diagram import _label_text

    said = _label_text('Q1 is “Blood thinner: 1#2; "x" <y> {z}”')
    assert said == "Q1 is “Blood thinner 12, “x“ ‹y› (z)”"
    assert not set(said) & set(':;#"<>{}')
