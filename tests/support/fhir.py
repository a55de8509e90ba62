"""What every FHIR export must be: valid R4B resources, and responses that fit their Questionnaire.

fhir.resources checks structure only, so the rest is checked here: every answered ``linkId`` is an
item of the exported Questionnaire, each answer's ``value[x]`` fits the item's type, and a coding
is one of the item's options; and who answered (``subject``, ``source``) is a contained ``Patient``.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

VALUE_FOR_TYPE = {
    "boolean": "valueBoolean",
    "choice": "valueCoding",
    "integer": "valueInteger",
    "decimal": "valueDecimal",
    "text": "valueString",
}


def checked_bundle(bundle: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The (newest) Questionnaire and the QuestionnaireResponses of an exported Bundle, each
    checked: a response against the Questionnaire of its own version (``url|version``), which the
    bundle carries before it (an intake begun on an earlier flow version brings its own)."""
    Bundle.model_validate(bundle)
    questionnaire = bundle["entry"][0]["resource"]
    versions: dict[str, dict[str, Any]] = {}
    responses = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Questionnaire":
            Questionnaire.model_validate(resource)
            versions[f"{resource['url']}|{resource['version']}"] = resource
        else:
            responses.append(resource)
    for response in responses:
        QuestionnaireResponse.model_validate(response)
        own = versions.get(response["questionnaire"], questionnaire)  # before versions: the one there is
        items = {item["linkId"]: item for item in own["item"]}
        # who answered: a local reference resolves to a contained resource (R4's dom-3 and ref-1,
        # which fhir.resources does not check)
        contained = {f"#{r['id']}": r for r in response.get("contained", [])}
        for key in ("subject", "source"):
            if key in response:
                assert contained[response[key]["reference"]]["resourceType"] == "Patient", key
        for resource in contained.values():
            Patient.model_validate(resource)
        assert response["questionnaire"].startswith(f"{questionnaire['url']}|")
        for answered in response.get("item", []):
            item = items[answered["linkId"]]  # every answered linkId exists in the Questionnaire
            assert answered["text"] == item["text"]
            assert answered["answer"], answered["linkId"]
            for answer in answered["answer"]:
                (key,) = answer
                assert key == VALUE_FOR_TYPE[item["type"]], (answered["linkId"], answer)
                if key == "valueCoding":
                    assert answer["valueCoding"] in [o["valueCoding"] for o in item["answerOption"]]
            if len(answered["answer"]) > 1:
                assert item.get("repeats")
    return questionnaire, responses
