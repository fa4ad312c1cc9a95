"""The team lead's API on a real store: thresholds (change, history, rollback, suggest, apply), feedback with
automatic suspension, audit events, the page's overview, and the metrics. Every endpoint with its auth, bad
input (4xx with a reason, never a 500, nothing stored changed).

Most tests run the app without a model (none is needed); one classifies with the shared export to show that a
thresholds change applies to the next `/v1/classify` without a restart.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from postroom.cli import app as cli_app
from postroom.cli import register_components
from postroom.store.models import Label, ThresholdVersion
from postroom.taxonomy import Taxonomy
from router.errors import ThresholdError
from router.feedback import MONITOR_ACTOR, SUSPENSION_EVENT, RealizedPrecision, below_target
from router.thresholds import active_version_key, active_version_key_columns, version_key
from serving.routing import ActiveThresholdCache, route
from serving.runtime import SetPrediction
from tests.router.damaged import DAMAGES, damage_version, stored_json, write_raw
from tests.serving.builders import Exported
from tests.serving.conftest import MakeLeadClient, auth, call, change, counts
from tests.serving.lead_data import auto_replied, seed_calibration

register_components()

JSON = {"Content-Type": "application/json"}


# ---------------------------------------------------------------- auth

LEAD_ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/thresholds", None),
    ("GET", "/v1/thresholds/history", None),
    ("POST", "/v1/thresholds", {"changes": {"topic": {"card_replacement": 0.9}}, "reason": "x"}),
    ("POST", "/v1/thresholds/rollback", {"version": 1, "reason": "x"}),
    ("GET", "/v1/thresholds/suggest?model_version=v0001", None),
    ("POST", "/v1/thresholds/suggest/apply", {"model_version": "v0001"}),
    ("GET", "/v1/events", None),
    ("GET", "/v1/lead/overview", None),
    ("GET", "/v1/lead/outcomes", None),
]
FEEDBACK = ("POST", "/v1/feedback", {"message_id": "m1", "final_labels": {"topic": "account_statement"}})


@pytest.mark.parametrize(("method", "path", "body"), [*LEAD_ENDPOINTS, FEEDBACK])
def test_401_without_a_key_or_with_a_wrong_one(
    app_client: TestClient, sessions: sessionmaker[Session], method: str, path: str, body: Any
) -> None:
    before = counts(sessions)
    for key in (None, "pr_not-a-key"):
        response = call(app_client, key, method, path, json=body)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"] == "NotAuthenticated"
    assert counts(sessions) == before


@pytest.mark.parametrize(("method", "path", "body"), LEAD_ENDPOINTS)
def test_lead_endpoints_refuse_a_router_key(
    app_client: TestClient, keys: dict[str, str], method: str, path: str, body: Any
) -> None:
    response = call(app_client, keys["router"], method, path, json=body)
    assert response.status_code == 403, response.text
    assert "needs the lead role" in response.json()["detail"]


def test_feedback_refuses_a_lead_key_and_admin_may_do_all(
    app_client: TestClient, keys: dict[str, str]
) -> None:
    method, path, body = FEEDBACK
    assert call(app_client, keys["lead"], method, path, json=body).status_code == 403
    assert call(app_client, keys["admin"], method, path, json=body).status_code == 404  # allowed; no message
    assert call(app_client, keys["admin"], "GET", "/v1/thresholds/history").status_code == 200


def test_openapi_documents_the_new_endpoints(app_client: TestClient) -> None:
    paths = app_client.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/thresholds/history",
        "/v1/thresholds/rollback",
        "/v1/thresholds/suggest",
        "/v1/thresholds/suggest/apply",
        "/v1/feedback",
        "/v1/events",
        "/v1/lead/overview",
        "/v1/lead/outcomes",
    ):
        assert path in paths, path
    assert "/lead" not in paths


def test_outcomes_count_the_feedback_the_crm_sent(
    app_client: TestClient, keys: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    """Feedback through the API shows in the outcomes: the replied topic was wrong, the queue right."""
    with sessions() as session:
        auto_replied(session, "m1", "account_statement")
        session.commit()
    body = {"message_id": "m1", "final_labels": {"topic": "tax_certificate", "queue": "accounts"}}
    assert call(app_client, keys["router"], "POST", "/v1/feedback", json=body).status_code == 201
    response = call(app_client, keys["lead"], "GET", "/v1/lead/outcomes?days=7")
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["window_days"] == 7 and data["triage_queue"] == "triage"
    (model,) = data["models"]
    assert model["model_version"] == "v0001"
    assert [(s["label_set"], s["judged"], s["right"]) for s in model["label_sets"]] == [("topic", 1, 0)]
    assert model["queues"] == []  # answered automatically: sent to no queue (its topic is judged above)
    assert data["served_model"] is None  # this app runs without a model
    for bad in ("0", "36501", "x", "1.5"):
        refused = call(app_client, keys["lead"], "GET", f"/v1/lead/outcomes?days={bad}")
        assert refused.status_code == 422 and "days" in refused.json()["detail"], bad


# ---------------------------------------------------------------- changes, history, rollback


def test_change_history_rollback(app_client: TestClient, keys: dict[str, str]) -> None:
    lead = keys["lead"]
    first = change(app_client, lead, {"topic": {"card_replacement": 0.93, "tax_certificate": 0.9}}, "first")
    assert first.status_code == 201, first.text
    v1 = first.json()
    assert v1["version"] == 1 and v1["active"] and v1["created_by"] == "test-lead" and v1["reason"] == "first"
    assert {(c["class"], c["old"], c["new"]) for c in v1["changes"]} == {
        ("card_replacement", None, 0.93),
        ("tax_certificate", None, 0.9),
    }
    second = change(app_client, lead, {"topic": {"tax_certificate": None}, "queue": {"cards": 0.4}}, "fees")
    assert second.status_code == 201 and second.json()["parent"] == 1
    active = call(app_client, lead, "GET", "/v1/thresholds").json()
    assert active["version"] == 2 and active["values"]["topic"]["tax_certificate"] is None
    assert active["values"]["topic"]["card_replacement"] == 0.93 and active["values"]["queue"]["cards"] == 0.4

    back = call(app_client, lead, "POST", "/v1/thresholds/rollback", json={"version": 1, "reason": "undo"})
    assert back.status_code == 201, back.text
    assert back.json()["rollback_to"] == 1 and back.json()["version"] == 3
    history = call(app_client, lead, "GET", "/v1/thresholds/history").json()
    assert history["active"] == 3
    assert [v["version"] for v in history["versions"]] == [3, 2, 1]
    assert [v["active"] for v in history["versions"]] == [True, False, False]
    assert history["versions"][0]["values"]["topic"]["tax_certificate"] == 0.9
    assert history["versions"][0]["values"]["queue"]["cards"] == 0.0
    assert history["versions"][1]["reason"] == "fees" and history["versions"][1]["created_at"]
    limited = call(app_client, lead, "GET", "/v1/thresholds/history?limit=1").json()
    assert [v["version"] for v in limited["versions"]] == [3]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{bad json", "not valid JSON"),
        (b"[]", "body"),
        (b"{}", "changes: Field required"),
        (b'{"changes": {"topic": {"card_replacement": 0.9}}}', "reason: Field required"),
        (b'{"changes": {"topic": {"card_replacement": 0.9}}, "reason": ""}', "reason: String should have"),
        (b'{"changes": {"topic": {"card_replacement": 0.9}}, "reason": "   "}', "a reason is required"),
        (b'{"changes": {"topic": {"card_replacement": 0.9}}, "reason": 5}', "reason: Input should be"),
        # a lead cannot write a forged second entry or a terminal escape into the log's views
        (b'{"changes": {"topic": {"card_replacement": 0.9}}, "reason": "ok\\nv9 boss: ok"}', "one line"),
        (b'{"changes": {"topic": {"card_replacement": 0.9}}, "reason": "\\u001b[31m"}', "control char"),
        (b'{"changes": {"topic": {"card_replacement": 0.9}}, "reason": "\\u009b2J"}', "control characters"),
        (b'{"changes": {"topic": {"card_replacement": 0.9}}, "reason": "a\\u2028b"}', "control characters"),
        (b'{"changes": {"topic": {"card_replacement": 0.9}}, "reason": "\\u202eevil"}', "control characters"),
        (b'{"changes": {}, "reason": "x"}', "changes: Dictionary should have at least 1 item"),
        (b'{"changes": {"topic": 0.9}, "reason": "x"}', "changes.topic: Input should be a valid dictionary"),
        (b'{"changes": {"topic": {"card_replacement": "0.9"}}, "reason": "x"}', "valid number"),
        (b'{"changes": {"topic": {"card_replacement": true}}, "reason": "x"}', "valid number"),
        (b'{"changes": {"topic": {"card_replacement": 1.5}}, "reason": "x"}', "less than or equal to 1"),
        (b'{"changes": {"topic": {"card_replacement": -0.1}}, "reason": "x"}', "greater than or equal to 0"),
        (b'{"changes": {"topic": {"card_replacement": NaN}}, "reason": "x"}', "finite number"),
        (b'{"changes": {"topic": {"card_replacement": 1e-400}}, "reason": "x"}', "'1e-400' is too small for"),
        (b'{"changes": {"topic": {"card_replacement": 2e-324}}, "reason": "x"}', "stored as 0.0"),
        (b'{"changes": {"topic": {"card_replacement": 1e999}}, "reason": "x"}', "'1e999' is not a finite"),
        (b'{"changes": {"topic": {"card_replacement": -1E+999}}, "reason": "x"}', "is not a finite number"),
        (b'{"changes": {"topic": {"fee_complaint": 0.9}}, "reason": "x"}', "no automated-reply template"),
        (b'{"changes": {"line_of_business": {"retail": 0.5}}, "reason": "x"}', "retail has no effect"),
        (b'{"changes": {"topic": {"mortgage": 0.9}}, "reason": "x"}', "unknown class 'mortgage'"),
        (b'{"changes": {"colour": {"red": 0.9}}, "reason": "x"}', "unknown label set 'colour'"),
        (b'{"changes": {"topic": {"card_replacement": null}}, "reason": "x"}', "no threshold changes"),
        (b'{"changes": {"topic": {"card_replacement": 0.9}}, "reason": "x", "who": "me"}', "Extra inputs"),
        (b'{"changes": {"topic": {"card_replacement": 0.9}}, "reason": "x", "base_version": 7}', "changed"),
    ],
)
def test_bad_changes_are_4xx_with_a_reason_and_store_nothing(
    app_client: TestClient,
    keys: dict[str, str],
    sessions: sessionmaker[Session],
    payload: bytes,
    reason: str,
) -> None:
    before = counts(sessions)
    response = call(app_client, keys["lead"], "POST", "/v1/thresholds", content=payload, headers=JSON)
    assert response.status_code in (400, 409, 422), response.text
    assert set(response.json()) == {"error", "detail"}
    assert reason in response.json()["detail"]
    assert counts(sessions) == before


def test_numbers_a_float_holds_as_written_pass(app_client: TestClient, keys: dict[str, str]) -> None:
    payload = (  # 0e-400 is 0 as written: on a reply class it needs allow_zero
        b'{"changes": {"topic": {"card_replacement": 1e-320, "tax_certificate": 0e-400}}, "reason": "x", '
        b'"allow_zero": true}'
    )
    response = call(app_client, keys["lead"], "POST", "/v1/thresholds", content=payload, headers=JSON)
    assert response.status_code == 201, response.text
    assert response.json()["values"]["topic"]["card_replacement"] == 1e-320


def test_zero_on_a_reply_class_needs_allow_zero(
    app_client: TestClient, keys: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    """As the CLI's --allow-zero (one rule, router.thresholds.refuse_zero_replies): 0 answers every message
    predicted as the class however unsure the model is, while a lead who sends 0 usually means off (null)."""
    lead = keys["lead"]
    before = counts(sessions)
    for extra in ({}, {"allow_zero": False}):
        changes = {"topic": {"card_replacement": 0.0, "tax_certificate": 0.9}}
        body = {"changes": changes, "reason": "x", **extra}
        refused = call(app_client, lead, "POST", "/v1/thresholds", json=body)
        assert refused.status_code == 422, refused.text
        assert refused.json() == {
            "error": "ZeroReplyThreshold",
            "detail": "topic.card_replacement=0 would answer every message predicted as that class "
            "automatically, however unsure the model is; null for topic.card_replacement switches its "
            'automated reply off; send "allow_zero": true if 0 is meant',
        }
    not_a_bool = {"changes": {"topic": {"card_replacement": 0}}, "reason": "x", "allow_zero": "yes"}
    response = call(app_client, lead, "POST", "/v1/thresholds", json=not_a_bool)
    assert response.status_code == 422 and "allow_zero: Input should be a valid boolean" in response.text
    assert counts(sessions) == before

    queue = change(app_client, lead, {"queue": {"cards": 0.4}}, "triage below 0.4")
    assert queue.status_code == 201
    trusted = change(app_client, lead, {"queue": {"cards": 0}}, "trust every cards prediction")
    assert trusted.status_code == 201, trusted.text  # a queue's 0 is its default: no automated reply
    confirmed = {"changes": {"topic": {"card_replacement": 0}}, "reason": "answer all", "allow_zero": True}
    zero = call(app_client, lead, "POST", "/v1/thresholds", json=confirmed)
    assert zero.status_code == 201, zero.text
    assert zero.json()["values"]["topic"]["card_replacement"] == 0.0


def test_base_version_guards_against_a_concurrent_change(
    app_client: TestClient, keys: dict[str, str]
) -> None:
    lead = keys["lead"]
    ahead = {"changes": {"topic": {"card_replacement": 0.9}}, "reason": "x", "base_version": 3}
    early = call(app_client, lead, "POST", "/v1/thresholds", json=ahead)  # no version yet: says so
    assert early.status_code == 409
    assert "no version is active yet (the defaults), not 3" in early.json()["detail"]
    body = {"changes": {"topic": {"card_replacement": 0.9}}, "reason": "x", "base_version": 0}
    assert call(app_client, lead, "POST", "/v1/thresholds", json=body).status_code == 201
    body["changes"] = {"topic": {"card_replacement": 0.8}}
    stale = call(app_client, lead, "POST", "/v1/thresholds", json=body)
    assert stale.status_code == 409 and "version 1 is active, not 0" in stale.json()["detail"]
    body["base_version"] = 1
    assert call(app_client, lead, "POST", "/v1/thresholds", json=body).status_code == 201
    back = {"version": 1, "reason": "the first value was better", "base_version": 1}
    stale = call(app_client, lead, "POST", "/v1/thresholds/rollback", json=back)
    assert stale.status_code == 409 and "version 2 is active, not 1" in stale.json()["detail"]
    back["base_version"] = 2
    assert call(app_client, lead, "POST", "/v1/thresholds/rollback", json=back).status_code == 201


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"version": 99, "reason": "x"}, 404, "no threshold version 99"),
        ({"version": "1", "reason": "x"}, 422, "version: Input should be a valid integer"),
        ({"version": 0, "reason": "x"}, 422, "greater than or equal to 1"),
        ({"version": 1}, 422, "reason: Field required"),
        ({"version": 1, "reason": " "}, 422, "a reason is required"),
        ({"version": 1, "reason": "x"}, 422, "no threshold changes"),  # v1 is active
    ],
)
def test_bad_rollbacks(
    app_client: TestClient,
    keys: dict[str, str],
    sessions: sessionmaker[Session],
    body: dict[str, Any],
    status: int,
    reason: str,
) -> None:
    assert change(app_client, keys["lead"], {"topic": {"card_replacement": 0.9}}).status_code == 201
    before = counts(sessions)
    response = call(app_client, keys["lead"], "POST", "/v1/thresholds/rollback", json=body)
    assert response.status_code == status, response.text
    assert reason in response.json()["detail"]
    assert counts(sessions) == before


def test_bad_history_and_events_queries(app_client: TestClient, keys: dict[str, str]) -> None:
    for path in ("/v1/thresholds/history?limit=0", "/v1/thresholds/history?limit=x", "/v1/events?limit=501"):
        response = call(app_client, keys["lead"], "GET", path)
        assert response.status_code == 422 and "limit" in response.json()["detail"], path


@pytest.mark.parametrize(("column", "value", "problem"), DAMAGES)
def test_a_damaged_version_is_named_listed_and_rolled_back_from(
    app_client: TestClient,
    keys: dict[str, str],
    sessions: sessionmaker[Session],
    column: str,
    value: Any,
    problem: str,
) -> None:
    """A version changed by hand in the database: 503 with the reason where its values are needed, listed
    and marked in the history, never rolled back to; a rollback to an intact version replaces it."""
    lead = keys["lead"]
    with sessions() as session:
        seed_calibration(session, "v0001", per_class=60, classes=("account_statement",))
    assert change(app_client, lead, {"topic": {"card_replacement": 0.9}}, "first").status_code == 201
    assert change(app_client, lead, {"topic": {"card_replacement": 0.8}}, "second").status_code == 201
    damage_version(sessions, 2, column, value)
    stored = stored_json(sessions, 2)
    before = counts(sessions)
    for method, path, body in [
        ("GET", "/v1/thresholds", None),
        ("GET", "/v1/lead/overview", None),
        ("GET", "/v1/thresholds/suggest?model_version=v0001", None),
        ("POST", "/v1/thresholds", {"changes": {"topic": {"card_replacement": 0.7}}, "reason": "x"}),
        ("POST", "/v1/thresholds/suggest/apply", {"model_version": "v0001"}),
    ]:
        response = call(app_client, lead, method, path, json=body)
        assert response.status_code == 503, (path, response.text)
        assert response.json()["error"] == "DamagedThresholdVersion"
        assert response.json()["detail"].startswith(f"thresholds version 2 is damaged: {problem}")
        assert "roll back to an intact version" in response.json()["detail"]
    app_client.app.state.services.gauges.refresh()  # logs the problem, raises nothing, keeps the gauges
    assert app_client.get("/metrics").status_code == 200  # a scrape never reads the store
    history = call(app_client, lead, "GET", "/v1/thresholds/history")
    assert history.status_code == 200, history.text
    damaged, intact = history.json()["versions"]
    assert (damaged["version"], damaged["active"], damaged["values"]) == (2, True, None)
    assert damaged["changes"] == []
    assert problem in damaged["damaged"] and damaged["reason"] == "second"
    assert intact["damaged"] is None and intact["values"]["topic"]["card_replacement"] == 0.9
    to_damaged = call(app_client, lead, "POST", "/v1/thresholds/rollback", json={"version": 2, "reason": "x"})
    assert to_damaged.status_code == 422 and "roll back to another version" in to_damaged.json()["detail"]
    assert counts(sessions) == before
    with sessions() as session:  # feedback is stored; the monitor cannot judge the damaged version
        auto_replied(session, "a1@example.org", "card_replacement", 2)
        session.commit()
    outcome = {"message_id": "a1@example.org", "final_labels": {"topic": "fee_complaint"}}
    feedback = call(app_client, keys["router"], "POST", "/v1/feedback", json=outcome)
    assert feedback.status_code == 201 and feedback.json()["suspended"] == [], feedback.text

    back = {"version": 1, "reason": "v2 was changed by hand", "base_version": 2}
    rolled = call(app_client, lead, "POST", "/v1/thresholds/rollback", json=back)
    assert rolled.status_code == 201, rolled.text
    assert rolled.json()["values"]["topic"]["card_replacement"] == 0.9 and rolled.json()["parent"] == 2
    assert call(app_client, lead, "GET", "/v1/thresholds").json()["version"] == 3
    assert call(app_client, lead, "GET", "/v1/lead/overview").status_code == 200
    versions = call(app_client, lead, "GET", "/v1/thresholds/history").json()["versions"]
    assert [(v["version"], v["damaged"] is not None) for v in versions] == [(3, False), (2, True), (1, False)]
    assert stored_json(sessions, 2) == stored  # nothing stored is lost or rewritten


def test_a_version_whose_json_does_not_parse_is_listed_as_damaged(
    app_client: TestClient, keys: dict[str, str], sessions: sessionmaker[Session], backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("PostgreSQL does not store text that is not JSON in a JSON column")
    lead = keys["lead"]
    assert change(app_client, lead, {"topic": {"card_replacement": 0.9}}, "first").status_code == 201
    assert change(app_client, lead, {"topic": {"card_replacement": 0.8}}, "second").status_code == 201
    write_raw(sessions, 1, "values", '{"topic": {"card_replacement": 0.9')
    versions = call(app_client, lead, "GET", "/v1/thresholds/history").json()["versions"]
    assert [v["damaged"] is None for v in versions] == [True, False]
    assert versions[1]["damaged"].startswith("its values are not JSON")
    assert call(app_client, lead, "GET", "/v1/lead/overview").status_code == 200
    rollback = call(app_client, lead, "POST", "/v1/thresholds/rollback", json={"version": 1, "reason": "x"})
    assert rollback.status_code == 422 and "thresholds version 1 is damaged" in rollback.json()["detail"]


def test_classify_with_a_damaged_active_version_is_503_with_the_reason(
    client: TestClient, serving_env: dict[str, str], stored: list[str], sessions: sessionmaker[Session]
) -> None:
    lead, router = serving_env["lead"], auth(serving_env["router"])
    assert change(client, lead, {"topic": {"card_replacement": 0.9}}).status_code == 201
    damage_version(sessions, 1, "values", {"topic": {"card_replacement": "high"}})
    response = client.post("/v1/classify", json={"message_id": stored[0]}, headers=router)
    assert response.status_code == 503, response.text
    assert "thresholds version 1 is damaged: its topic.card_replacement is a string" in response.text


# ---------------------------------------------------------------- suggestions


def test_suggest_then_apply(
    app_client: TestClient, keys: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        seed_calibration(session, "v0001", per_class=200, classes=("account_statement", "standing_order"))
    lead = keys["lead"]
    before = counts(sessions)
    suggested = call(
        app_client, lead, "GET", "/v1/thresholds/suggest?model_version=v0001&queue_precision=0.9"
    )
    assert suggested.status_code == 200, suggested.text
    data = suggested.json()
    assert data["target_precision"] == 0.95 and data["confidence"] == 0.9 and data["guarantee"] == "per-class"
    statement = data["report"]["topic"]["classes"]["account_statement"]
    assert statement["threshold"] is not None and statement["expected_precision"] >= 0.95
    assert 2 <= len(statement["curve"]) <= 60
    assert set(statement["curve"][0]) == {"threshold", "precision", "coverage", "selected"}
    assert data["report"]["topic"]["classes"]["standing_order"]["threshold"] is None
    assert ("topic", "account_statement") in {(c["label_set"], c["class"]) for c in data["changes"]}
    assert "queue" in data["report"] and counts(sessions) == before  # a suggestion stores nothing
    queue = data["report"]["queue"]  # triage, not automated replies: what goes straight to each queue
    assert queue["role"] == "queue" and queue["triage_queue"] == "triage"
    straight = sum(c["straight_share"] for c in queue["classes"].values())
    assert queue["expected_straight_share"] == pytest.approx(straight) and 0 < straight <= 1
    assert queue["expected_triage_share"] == pytest.approx(1 - straight)
    assert all(
        (c["straight_precision"] is None) == (c["straight_share"] == 0) for c in queue["classes"].values()
    )

    pooled = call(app_client, lead, "GET", "/v1/thresholds/suggest?model_version=v0001&guarantee=pooled")
    assert pooled.status_code == 200 and pooled.json()["report"]["topic"]["guarantee"] == "pooled"

    forged = {"model_version": "v0001", "reason": "ok\nv9 by boss: approved \x1b[8m", "base_version": 0}
    refused = call(app_client, lead, "POST", "/v1/thresholds/suggest/apply", json=forged)
    assert refused.status_code == 422 and "control characters" in refused.json()["detail"]
    applied = call(
        app_client,
        lead,
        "POST",
        "/v1/thresholds/suggest/apply",
        json={"model_version": "v0001", "reason": "new model v0001", "base_version": 0},
    )
    assert applied.status_code == 201, applied.text
    version = applied.json()
    assert version["has_report"] and version["created_by"] == "test-lead"
    assert version["reason"].startswith("new model v0001 (suggested (per-class guarantee)")
    assert version["values"]["topic"]["account_statement"] == statement["threshold"]
    again = call(app_client, lead, "POST", "/v1/thresholds/suggest/apply", json={"model_version": "v0001"})
    assert again.status_code == 422 and "no threshold changes" in again.json()["detail"]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("", "no model is loaded: give model_version"),
        ("?model_version=v0404", "no calibration predictions for model version 'v0404'"),
        ("?model_version=v0001&target_precision=1.5", "target_precision: Input should be less than 1"),
        ("?model_version=v0001&confidence=0", "confidence: Input should be greater than 0"),
        ("?model_version=v0001&target_precision=high", "target_precision: Input should be a valid number"),
        (
            "?model_version=v0001&guarantee=somehow",
            "guarantee: Input should be 'per-class', 'pooled' or 'learned'",
        ),
    ],
)
def test_bad_suggest_queries(app_client: TestClient, keys: dict[str, str], query: str, reason: str) -> None:
    response = call(app_client, keys["lead"], "GET", f"/v1/thresholds/suggest{query}")
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "model_version: Field required"),
        ({"model_version": "v0404"}, "no calibration predictions"),
        ({"model_version": "v0001", "target_precision": 1}, "target_precision: Input should be less than 1"),
        ({"model_version": "v0001", "guarantee": "x"}, "guarantee"),
        ({"model_version": "v0001", "extra": 1}, "Extra inputs are not permitted"),
        ({"model_version": 1}, "model_version: Input should be a valid string"),
        ('{"model_version": "v0001", "target_precision": 1e-400}', "'1e-400' is too small for a float"),
    ],
)
def test_bad_apply_bodies(
    app_client: TestClient,
    keys: dict[str, str],
    sessions: sessionmaker[Session],
    body: dict[str, Any] | str,
    reason: str,
) -> None:
    before = counts(sessions)
    sent = {"content": body, "headers": JSON} if isinstance(body, str) else {"json": body}
    response = call(app_client, keys["lead"], "POST", "/v1/thresholds/suggest/apply", **sent)
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]
    assert counts(sessions) == before


# ---------------------------------------------------------------- the page's overview


def test_overview_before_any_data(app_client: TestClient, keys: dict[str, str], taxonomy: Taxonomy) -> None:
    response = call(app_client, keys["lead"], "GET", "/v1/lead/overview")
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["thresholds_version"] is None and data["model_version"] is None and data["models"] == []
    assert "no calibration predictions" in data["note"]
    assert [(s["name"], s["role"]) for s in data["label_sets"]] == [("topic", "reply"), ("queue", "queue")]
    topic = {c["name"]: c for c in data["label_sets"][0]["classes"]}
    assert len(topic) == len(taxonomy.label_set("topic").classes)
    card = topic["card_replacement"]
    assert card["threshold"] is None and card["has_template"] and card["template_languages"] == ["de", "en"]
    assert card["description"].startswith("A card is lost") and card["curve"] == [] and not card["suspended"]
    assert topic["fee_complaint"]["has_template"] is False
    queue = {c["name"]: c for c in data["label_sets"][1]["classes"]}
    assert queue["cards"]["threshold"] == 0.0 and queue["cards"]["has_template"] is None


def test_overview_curves_from_the_stored_suggestion_and_from_calibration(
    app_client: TestClient, keys: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        seed_calibration(session, "v0001", per_class=200, classes=("account_statement",))
        seed_calibration(session, "v0002", per_class=60, classes=("card_replacement",), seed=1)
    lead = keys["lead"]
    apply = {"model_version": "v0001", "queue_precision": 0.9}
    assert call(app_client, lead, "POST", "/v1/thresholds/suggest/apply", json=apply).status_code == 201
    assert change(app_client, lead, {"topic": {"account_statement": 0.99}}, "stricter").status_code == 201

    data = call(app_client, lead, "GET", "/v1/lead/overview").json()
    assert data["thresholds_version"] == 2 and data["model_version"] == "v0001"
    assert data["models"] == ["v0002", "v0001"]
    assert data["curve_source"] == "the suggestion stored with thresholds version 1"
    topic, queue = data["label_sets"]
    assert topic["target_precision"] == 0.95 and topic["calibration_size"] == 200
    statement = next(c for c in topic["classes"] if c["name"] == "account_statement")
    assert statement["threshold"] == 0.99 and statement["suggested"]["threshold"] < 0.99
    assert len(statement["curve"]) > 2 and statement["last_change"]["reason"] == "stricter"
    assert (statement["last_change"]["version"], statement["last_change"]["new"]) == (2, 0.99)
    accounts = next(c for c in queue["classes"] if c["name"] == "accounts")
    assert accounts["curve"] and accounts["suggested"] is not None
    assert accounts["suggested"]["straight_share"] > 0 and accounts["suggested"]["straight_precision"] >= 0.9
    assert statement["suggested"]["straight_share"] is None  # a reply class: no queue to go straight to

    other = call(app_client, lead, "GET", "/v1/lead/overview?model_version=v0002").json()
    assert other["model_version"] == "v0002"
    assert other["curve_source"] == "computed from the calibration predictions of v0002 (topic, queue)"
    card = next(c for c in other["label_sets"][0]["classes"] if c["name"] == "card_replacement")
    assert card["curve"] and card["curve"][-1]["selected"] == 60

    missing = call(app_client, lead, "GET", "/v1/lead/overview?model_version=v0404").json()
    assert "no calibration predictions for model version 'v0404'" in missing["note"]


def test_overview_names_replies_outside_the_promise(
    app_client: TestClient, keys: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    """A class set by hand below what the calibration certifies, or with none certified, is outside the
    promise: the overview lists it and marks its card; a pooled suggestion's thresholds are the yardstick
    when the active values came from one."""
    with sessions() as session:
        seed_calibration(session, "v0001", per_class=200, classes=("account_statement",))
    lead = keys["lead"]
    apply = {"model_version": "v0001", "guarantee": "pooled"}
    assert call(app_client, lead, "POST", "/v1/thresholds/suggest/apply", json=apply).status_code == 201
    data = call(app_client, lead, "GET", "/v1/lead/overview").json()
    assert data["guarantee"] == "pooled" and data["unbacked_replies"] == []
    statement = next(c for c in data["label_sets"][0]["classes"] if c["name"] == "account_statement")
    pooled = statement["certified_threshold"]
    assert statement["threshold"] == pooled and statement["backed"] is True
    card = next(c for c in data["label_sets"][0]["classes"] if c["name"] == "card_replacement")
    assert card["backed"] is None  # off

    lower = round(pooled - 0.1, 3)
    changes = {"topic": {"account_statement": lower, "card_replacement": 0.9}}
    assert change(app_client, lead, changes, "by hand").status_code == 201
    data = call(app_client, lead, "GET", "/v1/lead/overview").json()
    assert data["guarantee"] == "pooled"  # carried over to the manual change, as the promise is
    assert sorted(data["unbacked_replies"], key=lambda u: u["class_name"]) == [
        {"class_name": "account_statement", "threshold": lower, "certified": pooled},
        {"class_name": "card_replacement", "threshold": 0.9, "certified": None},
    ]
    cards = {c["name"]: c for c in data["label_sets"][0]["classes"]}
    assert cards["account_statement"]["backed"] is False and cards["card_replacement"]["backed"] is False
    assert change(app_client, lead, {"topic": {"account_statement": 0.999}}, "stricter").status_code == 201
    data = call(app_client, lead, "GET", "/v1/lead/overview").json()
    assert [u["class_name"] for u in data["unbacked_replies"]] == ["card_replacement"]  # above: backed


def test_overview_computes_curves_when_the_stored_report_is_pooled(
    app_client: TestClient, keys: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        seed_calibration(session, "v0001", per_class=200, classes=("account_statement",))
    apply = {"model_version": "v0001", "guarantee": "pooled"}
    assert (
        call(app_client, keys["lead"], "POST", "/v1/thresholds/suggest/apply", json=apply).status_code == 201
    )
    data = call(app_client, keys["lead"], "GET", "/v1/lead/overview").json()
    assert data["curve_source"] == "computed from the calibration predictions of v0001 (topic, queue)"
    statement = next(c for c in data["label_sets"][0]["classes"] if c["name"] == "account_statement")
    assert statement["curve"]


# ---------------------------------------------------------------- feedback and suspension


def test_feedback_suspends_a_failing_class_logs_lists_and_exports_it(
    app_client: TestClient,
    keys: dict[str, str],
    sessions: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    lead, router = keys["lead"], keys["router"]
    assert change(app_client, lead, {"topic": {"account_statement": 0.9}}, "calibrated").status_code == 201
    secret = "Meine geheime IBAN DE02120300000000202051"
    with sessions() as session:
        ids = [
            auto_replied(session, f"auto-{i}@x", "account_statement", 1, body=secret).message_id
            for i in range(16)
        ]
        session.commit()
    # 10 right, then wrong ones until the evidence is enough (at target 0.95, alpha 0.05: the 5th wrong one).
    outcomes = [True] * 10 + [False] * 6
    expected = next(
        n
        for n in range(1, len(outcomes) + 1)
        if below_target(RealizedPrecision("x", n, sum(outcomes[:n]), 0), 0.95, 0.05)
    )
    logger = logging.getLogger("postroom.serving")  # "postroom" may not propagate (serving.app's logging)
    logger.addHandler(caplog.handler)
    suspended_at = []
    try:
        for n, (message_id, right) in enumerate(zip(ids, outcomes, strict=True), start=1):
            body = {
                "message_id": message_id,
                "final_labels": {"topic": "account_statement" if right else "tax_certificate"},
                "auto_reply_resolved": right,
            }
            response = call(app_client, router, "POST", "/v1/feedback", json=body)
            assert response.status_code == 201, response.text
            data = response.json()
            assert data["reply_class"] == "account_statement"
            assert data["realized"]["auto_replies"] == n and data["realized"]["correct"] == sum(outcomes[:n])
            if data["suspended"]:
                suspended_at.append(n)
                event = data["suspended"][0]
                assert event["kind"] == SUSPENSION_EVENT and event["subject"] == "topic.account_statement"
                assert (event["payload"]["auto_replies"], event["payload"]["correct"]) == (n, 10)
    finally:
        logger.removeHandler(caplog.handler)
    assert suspended_at == [expected] == [15]

    assert (
        call(app_client, lead, "GET", "/v1/thresholds").json()["values"]["topic"]["account_statement"] is None
    )
    newest = call(app_client, lead, "GET", "/v1/thresholds/history?limit=1").json()["versions"][0]
    assert newest["created_by"] == MONITOR_ACTOR and newest["suspension"] and "10/15" in newest["reason"]
    events = call(app_client, lead, "GET", f"/v1/events?kind={SUSPENSION_EVENT}").json()["events"]
    assert [e["subject"] for e in events] == ["topic.account_statement"]
    assert events[0]["payload"]["thresholds_version"] == newest["version"]
    assert call(app_client, lead, "GET", "/v1/events?kind=nothing").json()["events"] == []

    metrics = app_client.get("/metrics").text
    assert 'postroom_realized_precision{class="account_statement",label_set="topic"} 0.625' in metrics
    assert 'postroom_realized_auto_replies{class="account_statement",label_set="topic"} 16.0' in metrics
    assert 'postroom_auto_reply_suspensions_total{class="account_statement",label_set="topic"} 1.0' in metrics
    assert "postroom_feedback_total 16.0" in metrics

    logged = {r.getMessage() for r in caplog.records if "suspended" in r.getMessage()}  # a set: see above
    assert len(logged) == 1 and "topic.account_statement: 10 of 15" in logged.pop()
    assert not any("IBAN" in r.getMessage() for r in caplog.records)

    overview = call(app_client, lead, "GET", "/v1/lead/overview").json()
    statement = next(c for c in overview["label_sets"][0]["classes"] if c["name"] == "account_statement")
    assert statement["suspended"] and statement["suspension"]["payload"]["correct"] == 10
    assert statement["realized"] == {
        "auto_replies": 16,
        "correct": 10,
        "resolved": 10,
        "precision": 0.625,
        "window_days": 30,
    }
    assert overview["suspensions"][0]["subject"] == "topic.account_statement"

    # The lead turns it on again: not suspended any more, and history says who.
    assert (
        change(app_client, lead, {"topic": {"account_statement": 0.97}}, "template fixed").status_code == 201
    )
    overview = call(app_client, lead, "GET", "/v1/lead/overview").json()
    statement = next(c for c in overview["label_sets"][0]["classes"] if c["name"] == "account_statement")
    assert not statement["suspended"] and statement["threshold"] == 0.97


def test_feedback_on_a_human_case_and_labels(
    app_client: TestClient, keys: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        from postroom.ingest.records import IncomingMessage
        from postroom.ingest.service import ingest_one

        ingest_one(
            session, IncomingMessage("h1@x", "Frage", "text", "test", labels={"topic": "fee_complaint"})
        )
        session.commit()
    body = {"message_id": "<h1@x>", "final_labels": {"topic": "service_complaint", "queue": "complaints"}}
    # no automated reply was sent (h1 was never classified), so none can have resolved the case
    claimed = {**body, "auto_reply_resolved": True}
    resolved = call(app_client, keys["router"], "POST", "/v1/feedback", json=claimed)
    assert resolved.status_code == 422 and resolved.json()["detail"] == (
        "auto_reply_resolved says whether an automated reply resolved the case, but message 'h1@x' was never "
        "classified: send null"
    )
    response = call(app_client, keys["router"], "POST", "/v1/feedback", json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["message_id"] == "h1@x" and data["reply_class"] is None and data["realized"] is None
    assert data["suspended"] == []
    with sessions() as session:
        labels = session.scalars(select(Label).order_by(Label.id)).all()
        assert [(x.class_name, x.source, x.is_current, x.annotator) for x in labels] == [
            ("fee_complaint", "import", False, None),
            ("service_complaint", "feedback", True, "test-router"),
            ("complaints", "feedback", True, "test-router"),
        ]


@pytest.mark.parametrize(
    ("payload", "status", "reason"),
    [
        (b"{bad json", 422, "not valid JSON"),
        (b"[]", 422, "body"),
        (b'{"final_labels": {"topic": "fee_complaint"}}', 422, "message_id: Field required"),
        (b'{"message_id": "m1"}', 422, "final_labels: Field required"),
        (b'{"message_id": "m1", "final_labels": {}}', 422, "at least 1 item"),
        (b'{"message_id": "m1", "final_labels": {"topic": 3}}', 422, "final_labels.topic: Input should be"),
        (b'{"message_id": "m1", "final_labels": ["fee_complaint"]}', 422, "valid dictionary"),
        (
            b'{"message_id": "m1", "final_labels": {"topic": "fee_complaint"}, "auto_reply_resolved": "yes"}',
            422,
            "auto_reply_resolved: Input should be a valid boolean",
        ),
        (b'{"message_id": "m1", "final_labels": {"topic": "mortgage"}}', 422, "unknown class 'mortgage'"),
        (b'{"message_id": "m1", "final_labels": {"colour": "red"}}', 422, "unknown label set 'colour'"),
        (b'{"message_id": "zz@x", "final_labels": {"topic": "fee_complaint"}}', 404, "no message with ID"),
        (b'{"message_id": "", "final_labels": {"topic": "fee_complaint"}}', 422, "missing message_id"),
        (b'{"message_id": "m1", "final_labels": {"topic": "fee_complaint"}, "x": 1}', 422, "Extra inputs"),
        (b'{"message_id": "m1", "final_labels": {"topic": "fee_complaint"}, "agent": ""}', 422, "agent"),
    ],
)
def test_bad_feedback_is_4xx_with_a_reason_and_stores_nothing(
    app_client: TestClient,
    keys: dict[str, str],
    sessions: sessionmaker[Session],
    payload: bytes,
    status: int,
    reason: str,
) -> None:
    with sessions() as session:
        auto_replied(session, "m1", "account_statement")
        session.commit()
    before = counts(sessions)
    response = call(app_client, keys["router"], "POST", "/v1/feedback", content=payload, headers=JSON)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error", "detail"} and reason in response.json()["detail"]
    assert counts(sessions) == before


def test_realized_precision_is_exported_at_start(
    make_lead_client: MakeLeadClient, sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    from router.feedback import record_feedback

    with sessions() as session:
        for i in range(4):
            message = auto_replied(session, f"s{i}", "tax_certificate")
            record_feedback(session, taxonomy, message, {"topic": "tax_certificate"}, i > 0, "agent")
        session.commit()
    metrics = make_lead_client().get("/metrics").text
    assert 'postroom_realized_precision{class="tax_certificate",label_set="topic"} 1.0' in metrics
    assert 'postroom_realized_auto_replies{class="tax_certificate",label_set="topic"} 4.0' in metrics


# ---------------------------------------------------------------- the page's files


def test_the_page_is_static_and_locked_down(app_client: TestClient) -> None:
    page = app_client.get("/lead")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert '<script src="/lead/lead.js"' in page.text and "card_replacement" not in page.text
    script = app_client.get("/lead/lead.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text and "sessionStorage" in script.text
    assert app_client.get("/lead/lead.css").headers["content-type"].startswith("text/css")
    assert app_client.get("/lead/other.js").status_code == 404


# ---------------------------------------------------------------- serving picks up a change without restart


def _prediction(set_name: str, class_name: str, probability: float) -> SetPrediction:
    return SetPrediction(set_name, class_name, probability, ())


def test_route_reads_the_active_version_per_call(
    app_client: TestClient, keys: dict[str, str], sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    predictions = {
        "topic": _prediction("topic", "card_replacement", 0.95),
        "queue": _prediction("queue", "cards", 0.9),
        "line_of_business": _prediction("line_of_business", "retail", 0.9),
    }

    cache = ActiveThresholdCache(taxonomy)  # what the service holds: a change must still reach it

    def decide() -> Any:
        with sessions() as session:
            return route(cache.read(session), taxonomy, predictions, "de")

    assert decide().decision == "human"
    version = change(app_client, keys["lead"], {"topic": {"card_replacement": 0.9}}).json()["version"]
    auto = decide()
    assert (auto.decision, auto.reply_class, auto.thresholds_version) == (
        "auto_reply",
        "card_replacement",
        version,
    )
    assert auto.reply is not None and auto.reply["language"] == "de"
    stricter = change(app_client, keys["lead"], {"topic": {"card_replacement": 0.96}}).json()["version"]
    human = decide()
    assert (human.decision, human.thresholds_version) == ("human", stricter)
    assert "below its threshold 0.960" in human.reasons[0]


def test_the_service_parses_thresholds_again_only_for_a_new_version(
    app_client: TestClient, keys: dict[str, str], sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    cache = ActiveThresholdCache(taxonomy)
    with sessions() as session:
        first = cache.read(session)
        assert cache.read(session) is first and first.version is None  # the defaults, parsed once
    version = change(app_client, keys["lead"], {"topic": {"card_replacement": 0.9}}).json()["version"]
    with sessions() as session:
        changed = cache.read(session)
        assert changed is not first and changed.version == version
        assert changed.values["topic"]["card_replacement"] == 0.9
        assert cache.read(session) is changed
        session.add(  # a version whose learned confidence cannot be read: a clear error, not a stale answer
            ThresholdVersion(
                values={},
                created_by="test",
                reason="broken",
                details={"confidence_model": {"label_set": "topic", "mean": "?"}},
            )
        )
        session.commit()
        with pytest.raises(ThresholdError, match="holds an unreadable confidence model"):
            cache.read(session)


def test_the_version_key_read_beside_messages_is_the_active_ones(
    app_client: TestClient, keys: dict[str, str], sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    """What classification reads in its message query (`active_version_key_columns`) is the active version's
    key, as the cache compares it: the parsed version is reused, a new one read (a key that differs, e.g. a
    time read back in another type, would parse every version again on every call)."""
    cache = ActiveThresholdCache(taxonomy)

    def beside_a_message() -> tuple[Any, Any]:  # as classification reads it, and alone
        with sessions() as session:
            read = version_key(*session.execute(select(*active_version_key_columns())).one())
            return read, active_version_key(session)

    assert beside_a_message() == (None, None)
    with sessions() as session:
        defaults = cache.read_at(session, None)
        assert defaults.version is None and cache.read_at(session, None) is defaults
    version = change(app_client, keys["lead"], {"topic": {"card_replacement": 0.9}}).json()["version"]
    read, active = beside_a_message()
    assert read == active and read is not None and read[0] == version
    with sessions() as session:
        changed = cache.read_at(session, read)
        assert changed.version == version and changed.values["topic"]["card_replacement"] == 0.9
        assert cache.read_at(session, read) is changed and cache.read(session) is changed


def test_classify_applies_a_change_without_restart(
    client: TestClient, serving_env: dict[str, str], stored: list[str]
) -> None:
    """The real model (the shared export): the next /v1/classify uses the version the lead just wrote."""
    router, lead = auth(serving_env["router"]), serving_env["lead"]
    first = client.post("/v1/classify", json={"message_id": stored[0]}, headers=router).json()
    topic = first["predictions"]["topic"]["class"]
    assert first["decision"]["thresholds_version"] is None
    every = {"changes": {"topic": {topic: 0.0}, "queue": {"cards": 1.0}}, "reason": "all", "allow_zero": True}
    version = call(client, lead, "POST", "/v1/thresholds", json=every).json()["version"]
    second = client.post("/v1/classify", json={"message_id": stored[0]}, headers=router).json()
    assert second["decision"]["thresholds_version"] == version
    assert not any("is off (no certified threshold)" in r for r in second["decision"]["reasons"])
    if second["predictions"]["queue"]["class"] == "cards":
        assert second["decision"]["queue"] == "triage"
    version = change(client, lead, {"topic": {topic: 1.0}}).json()["version"]
    third = client.post("/v1/classify", json={"message_id": stored[0]}, headers=router).json()
    assert third["decision"]["thresholds_version"] == version and third["decision"]["decision"] == "human"


def test_feedback_updates_the_served_models_realized_accuracy(
    client: TestClient, serving_env: dict[str, str], stored: list[str]
) -> None:
    """The gauges a dashboard alerts on: the served model's predictions against the final classes, counted
    in the background (a month of feedback takes seconds to count: no request waits for it)."""
    router = serving_env["router"]
    answer = call(client, router, "POST", "/v1/classify", json={"message_id": stored[0]}).json()
    predicted = {name: p["class"] for name, p in answer["predictions"].items()}
    other_queue = next(q for q in ("cards", "payments") if q != predicted["queue"])
    final = {"topic": predicted["topic"], "queue": other_queue}  # the topic was right, the queue wrong
    body = {"message_id": stored[0], "final_labels": final, "prediction_id": answer["prediction_id"]}
    assert call(client, router, "POST", "/v1/feedback", json=body).status_code == 201
    assert "postroom_realized_label_accuracy{" not in client.get("/metrics").text  # no request counts them
    client.app.state.services.gauges.refresh()  # what the background thread does every minute
    text = client.get("/metrics").text
    assert 'postroom_realized_label_accuracy{label_set="topic"} 1.0' in text
    assert 'postroom_realized_label_accuracy{label_set="queue"} 0.0' in text
    assert 'postroom_realized_label_judged{label_set="queue"} 1.0' in text
    assert 'postroom_realized_label_accuracy{label_set="line_of_business"}' not in text  # not in feedback


def test_outcomes_set_the_realized_accuracy_beside_the_held_out_one(
    client: TestClient, serving_env: dict[str, str], stored: list[str], shared: Exported
) -> None:
    """Every queue prediction wrong on closed cases: below the model's own held-out accuracy with evidence
    (the interval's upper bound under it), while one right topic out of one is not."""
    import json

    router, lead = serving_env["router"], serving_env["lead"]
    manifest = json.loads((shared.registry_dir / shared.version / "manifest.json").read_text("utf-8"))
    held_queue = manifest["metrics"]["queue"]["accuracy"]
    for index, message_id in enumerate(stored):
        answer = call(client, router, "POST", "/v1/classify", json={"message_id": message_id}).json()
        predicted = {name: p["class"] for name, p in answer["predictions"].items()}
        final = {"queue": next(q for q in ("cards", "payments") if q != predicted["queue"])}
        if index == 0:
            final["topic"] = predicted["topic"]
        body = {"message_id": message_id, "final_labels": final, "prediction_id": answer["prediction_id"]}
        assert call(client, router, "POST", "/v1/feedback", json=body).status_code == 201
    (model,) = call(client, lead, "GET", "/v1/lead/outcomes").json()["models"]
    sets = {s["label_set"]: s for s in model["label_sets"]}
    upper = 1 - 0.025 ** (1 / len(stored))  # Clopper-Pearson upper bound of 0 right out of n
    assert held_queue > upper  # else this test proves nothing
    assert sets["queue"]["right"] == 0 and sets["queue"]["interval"][1] == pytest.approx(upper, abs=1e-6)
    assert sets["queue"]["held_out_accuracy"] == pytest.approx(held_queue)
    assert sets["queue"]["below_held_out"] is True
    assert sets["topic"]["held_out_accuracy"] == pytest.approx(manifest["metrics"]["topic"]["accuracy"])
    assert (sets["topic"]["judged"], sets["topic"]["below_held_out"]) == (1, False)
    printed = CliRunner().invoke(cli_app, ["outcomes"])  # the CLI sets the same figures side by side
    assert printed.exit_code == 0, printed.output
    queue_row = next(line for line in printed.stdout.splitlines() if line.strip("│ ").startswith("queue"))
    assert f"{held_queue:.1%}" in queue_row and "below held-out: the mail moved" in queue_row
    as_json = json.loads(CliRunner().invoke(cli_app, ["outcomes", "--json"]).stdout)
    answered = call(client, lead, "GET", "/v1/lead/outcomes").json()
    assert answered["served_model"] == shared.version  # the CLI: the production version the service serves
    assert {**as_json, "since": None} == {**answered, "since": None}  # exactly what the API answers
