"""The feedback monitor over the API after a lead acts on a suspension: turning the class on again starts
its record afresh, and a rollback to a version no store can hold is a 404 (never a 500)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from postroom.store.models import Prediction, RoutingDecision
from tests.serving.conftest import call, change, counts
from tests.serving.lead_data import auto_replied


def _feedback(client: TestClient, key: str, message_id: str, final: str, right: bool) -> dict[str, Any]:
    body = {"message_id": message_id, "final_labels": {"topic": final}, "auto_reply_resolved": right}
    response = call(client, key, "POST", "/v1/feedback", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_class_turned_on_again_is_not_suspended_by_the_replies_that_suspended_it(
    app_client: TestClient,
    keys: dict[str, str],
    sessions: sessionmaker[Session],
) -> None:
    lead, router = keys["lead"], keys["router"]
    first = change(app_client, lead, {"topic": {"account_statement": 0.9, "tax_certificate": 0.9}})
    assert first.status_code == 201
    with sessions() as session:
        for i in range(3):
            auto_replied(session, f"old-{i}@x", "account_statement", first.json()["version"])
        session.commit()
    suspended = [_feedback(app_client, router, f"old-{i}@x", "fee_complaint", False) for i in range(3)]
    assert [bool(s["suspended"]) for s in suspended] == [False, True, False]  # 0 of 2: p = 0.0025 < 0.05

    again = change(app_client, lead, {"topic": {"account_statement": 0.97}}, "template fixed")
    assert again.status_code == 201
    with sessions() as session:
        auto_replied(session, "tax@x", "tax_certificate", again.json()["version"])
        auto_replied(session, "new@x", "account_statement", again.json()["version"])
        session.commit()
    assert _feedback(app_client, router, "tax@x", "tax_certificate", True)["suspended"] == []
    fresh = _feedback(app_client, router, "new@x", "account_statement", True)
    assert fresh["suspended"] == [] and fresh["realized"]["auto_replies"] == 1
    values = call(app_client, lead, "GET", "/v1/thresholds").json()["values"]["topic"]
    assert values["account_statement"] == 0.97


def test_rollback_to_a_version_no_store_can_hold_is_404(
    app_client: TestClient,
    keys: dict[str, str],
    sessions: sessionmaker[Session],
) -> None:
    before = counts(sessions)
    for version in (2**31, 2**40, 2**63, 10**20):  # past PostgreSQL's 32-bit ids: never queried there
        body = {"version": version, "reason": "x"}
        response = call(app_client, keys["lead"], "POST", "/v1/thresholds/rollback", json=body)
        assert response.status_code == 404, response.text
        assert response.json()["detail"] == f"no threshold version {version}"
    assert counts(sessions) == before


def test_a_prediction_id_no_store_can_hold_is_422(
    app_client: TestClient, keys: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    before = counts(sessions)
    body = {"message_id": "m1", "final_labels": {"queue": "cards"}, "prediction_id": 2**31}
    response = call(app_client, keys["router"], "POST", "/v1/feedback", json=body)
    assert response.status_code == 422, response.text
    assert "prediction_id: Input should be less than or equal to 2147483647" in response.json()["detail"]
    assert counts(sessions) == before


def test_feedback_judges_the_decision_its_prediction_id_names(
    app_client: TestClient,
    keys: dict[str, str],
    sessions: sessionmaker[Session],
) -> None:
    """A message answered automatically, then classified again (to a human): the CRM's feedback on the
    automated reply names that answer's prediction_id, and the reply is judged; without it the latest
    decision (the human one) is, and no reply counts."""
    lead, router = keys["lead"], keys["router"]
    version = change(app_client, lead, {"topic": {"account_statement": 0.9}}).json()["version"]
    with sessions() as session:
        replied = auto_replied(session, "twice@x", "account_statement", version)
        first = session.scalars(select(Prediction).where(Prediction.message_pk == replied.id)).one()
        later = Prediction(message_pk=replied.id, model_version="v0001", variant="onnx-int8", results={})
        session.add(later)
        session.flush()
        session.add(RoutingDecision(prediction_pk=later.id, message_pk=replied.id, decision="human"))
        other = auto_replied(session, "other@x", "account_statement", version)
        foreign = session.scalars(select(Prediction).where(Prediction.message_pk == other.id)).one().id
        first_id = first.id
        session.commit()

    body = {"message_id": "twice@x", "final_labels": {"topic": "account_statement"}}
    latest = call(app_client, router, "POST", "/v1/feedback", json=body).json()
    assert latest["reply_class"] is None and latest["realized"] is None

    before = counts(sessions)
    wrong = call(app_client, router, "POST", "/v1/feedback", json={**body, "prediction_id": foreign})
    assert wrong.status_code == 422, wrong.text
    assert f"prediction {foreign} is not a classification of message 'twice@x'" in wrong.json()["detail"]
    resolved = call(app_client, router, "POST", "/v1/feedback", json={**body, "auto_reply_resolved": True})
    assert resolved.status_code == 422  # judged against the human decision: the reply's answer is meant
    assert resolved.json()["detail"].endswith(
        f"went to a human: give the prediction_id of the automated reply's /v1/classify answer ({first_id})"
    )
    assert counts(sessions) == before

    named = call(app_client, router, "POST", "/v1/feedback", json={**body, "prediction_id": first_id}).json()
    assert named["reply_class"] == "account_statement"
    assert named["realized"]["auto_replies"] == 1 and named["realized"]["correct"] == 1
