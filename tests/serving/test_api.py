"""Every endpoint against a real store (SQLite; PostgreSQL too when configured), in-process."""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from postroom.store.models import Label, Message, Prediction, RoutingDecision
from tests.serving.builders import Exported
from tests.serving.conftest import auth, change

RFC822 = (
    b"Message-ID: <rfc-1@example.org>\r\nFrom: Anna <anna@example.org>\r\nSubject: Karte weg\r\n"
    b"X-Postroom-Queue: cards\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Guten Tag,\r\nmeine Karte ist weg. Bitte sperren.\r\n\r\nAnna\r\n"
)


class TestMessages:
    def test_post_json_then_idempotent_then_conflict(
        self, client: TestClient, serving_env: dict[str, str], sessions: sessionmaker[Session]
    ) -> None:
        key = auth(serving_env["router"])
        body = {
            "message_id": "<new-1@example.org>",
            "subject": "Card lost",
            "body": "I lost my card.",
            "topic": "card_replacement",
        }
        first = client.post("/v1/messages", json=body, headers=key)
        assert first.status_code == 201, first.text
        assert first.json() == {
            "message_id": "new-1@example.org",
            "outcome": "inserted",
            "labels_added": 1,
            "label_conflicts": [],
            "ignored_fields": [],
        }
        again = client.post("/v1/messages", json=body, headers=key)
        assert again.status_code == 200 and again.json()["outcome"] == "unchanged"
        assert again.json()["ignored_fields"] == []
        other = {"sender": "mallory@x", "received_at": "2027-01-01T00:00:00Z", "metadata": {"crm": 2}}
        described = client.post("/v1/messages", json={**body, **other}, headers=key)
        assert described.status_code == 200 and described.json()["outcome"] == "unchanged"
        assert described.json()["ignored_fields"] == ["sender", "received_at", "metadata"]
        changed = client.post("/v1/messages", json={**body, "body": "Something else."}, headers=key)
        assert changed.status_code == 409 and changed.json()["error"] == "MessageConflict"
        as_raw = {k: v for k, v in body.items() if k != "body"} | {"raw": body["body"]}  # read as RFC 822
        assert client.post("/v1/messages", json=as_raw, headers=key).status_code == 409
        subject = client.post("/v1/messages", json={**body, "subject": "Card found"}, headers=key)
        assert subject.status_code == 409 and subject.json()["error"] == "MessageConflict"
        with sessions() as session:
            message = session.scalar(select(Message).where(Message.message_id == "new-1@example.org"))
            assert message is not None and message.raw_body == "I lost my card."
            assert session.scalar(select(func.count()).select_from(Message)) == 1

    def test_post_rfc822_with_label_headers(
        self, client: TestClient, serving_env: dict[str, str], sessions: sessionmaker[Session]
    ) -> None:
        response = client.post(
            "/v1/messages",
            content=RFC822,
            headers={**auth(serving_env["router"]), "Content-Type": "message/rfc822"},
        )
        assert response.status_code == 201, response.text
        assert response.json()["message_id"] == "rfc-1@example.org"
        with sessions() as session:
            message = session.scalar(select(Message).where(Message.message_id == "rfc-1@example.org"))
            assert message is not None and message.raw_format == "rfc822"
            assert "Karte ist weg" in message.cleaned_text
            labels = session.scalars(select(Label).where(Label.message_pk == message.id)).all()
            assert [(lb.label_set, lb.class_name, lb.source) for lb in labels] == [("queue", "cards", "api")]

    def test_get_message_with_latest_prediction(
        self, client: TestClient, serving_env: dict[str, str], stored: list[str]
    ) -> None:
        key = auth(serving_env["router"])
        before = client.get(f"/v1/messages/{stored[0]}", headers=key)
        assert before.status_code == 200
        assert before.json()["latest_prediction"] is None
        assert before.json()["labels"]["topic"] == "card_replacement"
        assert before.json()["model_text"].startswith("Karte verloren\n")
        classified = client.post("/v1/classify", json={"message_id": stored[0]}, headers=key).json()
        after = client.get(f"/v1/messages/{stored[0]}", headers=key).json()
        latest = after["latest_prediction"]
        assert latest["prediction_id"] == classified["prediction_id"]
        assert latest["predictions"] == classified["predictions"]
        assert latest["decision"] == classified["decision"]

    def test_ids_with_odd_characters_round_trip(
        self, client: TestClient, serving_env: dict[str, str]
    ) -> None:
        key = auth(serving_env["router"])
        odd = "a/b?c#d e f+ü;@ex ample.org"  # "%" is tested against uvicorn: TestClient decodes paths twice
        created = client.post("/v1/messages", json={"message_id": f"<{odd}>", "body": "Hallo"}, headers=key)
        assert created.status_code == 201, created.text
        got = client.get(f"/v1/messages/{quote(odd, safe='')}", headers=key)
        assert got.status_code == 200, got.text
        assert got.json()["message_id"] == odd
        assert client.get(f"/v1/messages/{quote('<' + odd + '>', safe='')}", headers=key).status_code == 200
        assert client.post("/v1/classify", json={"message_id": odd}, headers=key).status_code == 200


class TestClassify:
    def test_classify_returns_every_label_set_and_stores_the_rows(
        self,
        client: TestClient,
        serving_env: dict[str, str],
        stored: list[str],
        shared: Exported,
        sessions: sessionmaker[Session],
    ) -> None:
        response = client.post(
            "/v1/classify", json={"message_id": stored[1]}, headers=auth(serving_env["router"])
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_version"] == shared.version
        assert body["variant"] in {"fp32", "optimized", "int8"}
        assert body["provider"] == "CPUExecutionProvider"
        assert set(body["predictions"]) == {"line_of_business", "queue", "topic"}
        for result in body["predictions"].values():
            assert 0.0 <= result["probability"] <= 1.0
            assert len(result["top"]) == 3
            assert result["top"][0]["class"] == result["class"]
            assert [t["probability"] for t in result["top"]] == sorted(
                (t["probability"] for t in result["top"]), reverse=True
            )
        decision = body["decision"]
        # no thresholds yet: every message goes to a human, in its predicted queue
        assert decision["decision"] == "human"
        assert decision["queue"] == body["predictions"]["queue"]["class"]
        assert decision["reasons"]
        with sessions() as session:
            prediction = session.get(Prediction, body["prediction_id"])
            assert prediction is not None
            assert prediction.model_version == shared.version
            assert prediction.variant == f"onnx-{body['variant']}"
            assert prediction.results["topic"]["class"] == body["predictions"]["topic"]["class"]
            routing = session.scalar(
                select(RoutingDecision).where(RoutingDecision.prediction_pk == prediction.id)
            )
            assert routing is not None and routing.queue == decision["queue"] and routing.decision == "human"

    def test_every_classify_is_stored(
        self,
        client: TestClient,
        serving_env: dict[str, str],
        stored: list[str],
        sessions: sessionmaker[Session],
    ) -> None:
        for _ in range(3):
            assert (
                client.post(
                    "/v1/classify", json={"message_id": stored[2]}, headers=auth(serving_env["router"])
                ).status_code
                == 200
            )
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(Prediction)) == 3
            assert session.scalar(select(func.count()).select_from(RoutingDecision)) == 3

    def test_classify_reads_in_one_statement_and_writes_in_two(
        self, client: TestClient, serving_env: dict[str, str], stored: list[str]
    ) -> None:
        """Each statement is a round trip to PostgreSQL: the messages and the active thresholds' version are
        read together, then each message's prediction and decision written; for one ID and for a batch. With
        a version stored: its key read beside the messages must match the one the cache holds (a time read
        back in another type would read the whole version again on every call)."""
        key = auth(serving_env["router"])
        version = change(client, serving_env["lead"], {"topic": {"card_replacement": 0.9}}).json()["version"]
        first = client.post("/v1/classify", json={"message_id": stored[3]}, headers=key)
        assert first.json()["decision"]["thresholds_version"] == version  # read, parsed and cached
        statements: list[str] = []

        def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            statements.append(statement.split()[0].upper())

        engine = client.app.state.services.engine  # type: ignore[attr-defined]
        event.listen(engine, "before_cursor_execute", record)
        try:
            for path, body, classified in (
                ("/v1/classify", {"message_id": stored[0]}, 1),
                ("/v1/classify/batch", {"message_ids": [stored[1], stored[2], "missing@x"]}, 2),
            ):
                statements.clear()
                assert client.post(path, json=body, headers=key).status_code == 200
                # one INSERT per table on PostgreSQL (insertmanyvalues), one per row on SQLite
                assert statements[0] == "SELECT" and set(statements[1:]) == {"INSERT"}, (path, statements)
                assert 2 <= len(statements) - 1 <= 2 * classified, (path, statements)
        finally:
            event.remove(engine, "before_cursor_execute", record)

    def test_unknown_id_is_404_with_a_reason(self, client: TestClient, serving_env: dict[str, str]) -> None:
        response = client.post(
            "/v1/classify", json={"message_id": "nope@x"}, headers=auth(serving_env["router"])
        )
        assert response.status_code == 404
        assert response.json()["error"] == "MessageNotFound"
        assert "nope@x" in response.json()["detail"]

    def test_batch_has_per_id_errors(
        self,
        client: TestClient,
        serving_env: dict[str, str],
        stored: list[str],
        sessions: sessionmaker[Session],
    ) -> None:
        ids = [stored[0], "missing@x", stored[3], "bad\x01id", stored[0]]
        response = client.post(
            "/v1/classify/batch", json={"message_ids": ids}, headers=auth(serving_env["router"])
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert [(r["ok"], r["status"]) for r in body["results"]] == [
            (True, 200),
            (False, 404),
            (True, 200),
            (False, 422),
            (True, 200),
        ]
        assert body["succeeded"] == 3 and body["failed"] == 2
        assert body["results"][1]["error"]["error"] == "MessageNotFound"
        assert body["results"][0]["result"]["predictions"] == body["results"][4]["result"]["predictions"]
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(Prediction)) == 2  # one per message

    def test_batch_limit_is_configurable(
        self, make_client, serving_env: dict[str, str], stored: list[str]
    ) -> None:
        client = make_client(serve_batch_max_ids=2)
        response = client.post(
            "/v1/classify/batch", json={"message_ids": stored[:3]}, headers=auth(serving_env["router"])
        )
        assert response.status_code == 422
        assert "at most 2" in response.json()["detail"]

    def test_batch_and_single_agree(
        self, client: TestClient, serving_env: dict[str, str], stored: list[str]
    ) -> None:
        key = auth(serving_env["router"])
        batch = client.post("/v1/classify/batch", json={"message_ids": stored}, headers=key).json()["results"]
        for item in batch[:4]:
            single = client.post("/v1/classify", json={"message_id": item["message_id"]}, headers=key).json()
            # int8 quantises each token's activations on their own: a text scores the same alone as in a
            # batch with others (to float rounding), as the float graphs do
            for name, result in single["predictions"].items():
                assert result["class"] == item["result"]["predictions"][name]["class"]
                batched = item["result"]["predictions"][name]["probability"]
                assert abs(result["probability"] - batched) < 1e-4, (single["variant"], name)


class TestHealth:
    def test_healthz_readyz_metrics(
        self, make_client, serving_env: dict[str, str], stored: list[str], shared: Exported
    ) -> None:
        client = make_client(serve_variant="optimized")  # a float graph: no second look to count
        assert client.get("/healthz").json() == {"status": "alive"}
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["model"]["version"] == shared.version and ready.json()["store"] == "ok"
        assert set(ready.json()["model"]) == {"version", "variant", "provider", "loaded_at"}
        assert "api_keys" not in ready.json()  # no path, no key count without a key
        classified = client.post(
            "/v1/classify", json={"message_id": stored[0]}, headers=auth(serving_env["router"])
        )
        assert classified.status_code == 200
        text = client.get("/metrics").text
        assert (
            "postroom_http_request_duration_seconds_count"
            '{endpoint="/v1/classify",method="POST",status="200"} 1.0'
            in text
        )
        assert "postroom_predictions_total{class=" in text and 'label_set="topic"' in text
        assert 'postroom_routing_decisions_total{decision="human"' in text
        assert 'postroom_model_info{provider="CPUExecutionProvider",variant=' in text
        assert f'version="{shared.version}"' in text
        assert "postroom_model_loaded 1.0" in text
        assert classified.json()["variant"] == "optimized"
        assert "postroom_int8_second_look_ratio 0.0" in text  # only int8 hands rows to a second look
        assert "postroom_auto_replies_paused 0.0" in text  # no thresholds calibrated for another model

    def test_int8_second_look_ratio_is_exported(
        self, make_client, serving_env: dict[str, str], stored: list[str]
    ) -> None:
        client = make_client(serve_variant="int8")  # the shared export publishes int8 with a second look
        response = client.post(
            "/v1/classify/batch", json={"message_ids": stored}, headers=auth(serving_env["router"])
        )
        assert response.status_code == 200 and response.json()["results"][0]["result"]["variant"] == "int8"
        text = client.get("/metrics").text
        ratio = re.search(r"^postroom_int8_second_look_ratio ([0-9.e-]+)$", text, re.MULTILINE)
        assert ratio is not None and 0.0 < float(ratio.group(1)) <= 1.0

    def test_invented_methods_add_no_metric_series(self, client: TestClient) -> None:
        for i in range(5):
            assert client.request(f"X{i}INVENTED", "/healthz").status_code == 405
        text = client.get("/metrics").text
        assert "INVENTED" not in text
        assert 'endpoint="/healthz",method="other",status="405"} 5.0' in text

    def test_requests_refused_before_routing_are_counted_under_their_route(
        self, make_client, serving_env: dict[str, str]
    ) -> None:
        """401 and 413 are answered by the middleware before routing: still counted per route template,
        never per path (the ID in it), and "unmatched" only for a path no route has."""
        client = make_client(serve_max_request_bytes=1024)
        key = auth(serving_env["router"])
        assert client.post("/v1/classify", json={"message_id": "m1"}).status_code == 401
        assert client.get("/v1/messages/secret-7@x", headers=auth("pr_wrong")).status_code == 401
        assert client.get("/v1/messages/a%0Ab").status_code == 401
        big = client.post("/v1/classify/batch", json={"message_ids": ["x" * 2000]}, headers=key)
        assert big.status_code == 413
        assert client.get("/v1/classify", headers=key).status_code == 405
        assert client.get("/v2/secret-8@x", headers=key).status_code == 404
        assert client.get("/v1/secret-9@x").status_code == 401
        text = client.get("/metrics").text
        count = "postroom_http_request_duration_seconds_count"
        assert f'{count}{{endpoint="/v1/classify",method="POST",status="401"}} 1.0' in text
        assert f'{count}{{endpoint="/v1/messages/{{message_id}}",method="GET",status="401"}} 2.0' in text
        assert f'{count}{{endpoint="/v1/classify/batch",method="POST",status="413"}} 1.0' in text
        assert f'{count}{{endpoint="/v1/classify",method="GET",status="405"}} 1.0' in text
        assert f'{count}{{endpoint="unmatched",method="GET",status="404"}} 1.0' in text
        assert f'{count}{{endpoint="unmatched",method="GET",status="401"}} 1.0' in text
        assert "secret" not in text

    def test_metrics_can_require_an_admin_key(self, make_client, serving_env: dict[str, str]) -> None:
        client = make_client(serve_metrics_public=False)
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=auth(serving_env["router"])).status_code == 403
        assert client.get("/metrics", headers=auth(serving_env["admin"])).status_code == 200

    def test_docs_are_served_from_this_service(self, client: TestClient) -> None:
        page = client.get("/docs")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "/docs/assets/swagger-ui-bundle.js" in page.text and "/openapi.json" in page.text
        assert "cdn." not in page.text and "https://" not in page.text.split("<body>")[0]
        script = client.get("/docs/assets/swagger-ui-bundle.js")
        assert script.status_code == 200 and "SwaggerUIBundle" in script.text
        assert client.get("/docs/assets/swagger-ui.css").status_code == 200
        assert client.get("/redoc").status_code == 404  # it would load from a CDN

    def test_openapi_documents_the_api(self, client: TestClient) -> None:
        spec = client.get("/openapi.json").json()
        assert {
            "/v1/messages",
            "/v1/messages/{message_id}",
            "/v1/classify",
            "/v1/classify/batch",
            "/v1/admin/reload",
            "/healthz",
            "/readyz",
        } <= set(spec["paths"])
        assert "message/rfc822" in spec["paths"]["/v1/messages"]["post"]["requestBody"]["content"]
        # client generators need every operationId once (GET and HEAD of one route once shared theirs)
        ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
        assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
        assert "HTTPBearer" in spec["components"]["securitySchemes"]

    def test_openapi_requires_every_field_a_response_always_sends(
        self, client: TestClient, serving_env: dict[str, str], stored: list[str]
    ) -> None:
        """Nullable response fields are sent as null, never left out, so the schema says they are required
        (a generated client otherwise types `decision.reply_class` or a batch item's `error` as optional)."""
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
        key = auth(serving_env["router"])
        classified = client.post("/v1/classify", json={"message_id": stored[0]}, headers=key).json()
        batch = client.post("/v1/classify/batch", json={"message_ids": [stored[0], "nope"]}, headers=key)
        message = client.get(f"/v1/messages/{quote(stored[0], safe='')}", headers=key).json()
        for name, body in [
            ("ClassifyResponse", classified),
            ("DecisionPublic", classified["decision"]),
            ("ClassifyBatchResponse", batch.json()),
            ("BatchItemPublic", batch.json()["results"][0]),
            ("BatchItemPublic", batch.json()["results"][1]),
            ("MessagePublic", message),
            ("PredictionPublic", message["latest_prediction"]),
        ]:
            schema = schemas[name]
            assert set(schema["required"]) == set(schema["properties"]) == set(body), name
        assert classified["decision"]["reply_class"] is None  # required, and null here: no thresholds yet
        assert schemas["MessagePublic"]["properties"]["raw_format"]["enum"] == ["text", "html", "rfc822"]


class TestAuth:
    ENDPOINTS = [
        ("post", "/v1/classify", {"message_id": "x"}, "router"),
        ("post", "/v1/classify/batch", {"message_ids": ["x"]}, "router"),
        ("post", "/v1/messages", {"message_id": "x", "body": "b"}, "router"),
        ("get", "/v1/messages/x", None, "router"),
        ("get", "/v1/thresholds", None, "lead"),
        ("get", "/v1/admin/model", None, "admin"),
        ("post", "/v1/admin/reload", None, "admin"),
    ]

    def test_401_without_or_with_a_wrong_key(self, client: TestClient) -> None:
        for method, path, body, _ in self.ENDPOINTS:
            for headers in (
                {},
                {"Authorization": "Bearer pr_wrong"},
                {"Authorization": "Basic abc"},
                {"X-API-Key": ""},
            ):
                response = client.request(method, path, json=body, headers=headers)
                assert response.status_code == 401, (path, headers, response.text)
                assert response.json()["error"] == "NotAuthenticated"
                assert response.headers["www-authenticate"] == "Bearer"

    def test_403_with_the_wrong_role_and_admin_may_do_all(
        self, client: TestClient, serving_env: dict[str, str]
    ) -> None:
        for method, path, body, needed in self.ENDPOINTS:
            for role, key in serving_env.items():
                response = client.request(method, path, json=body, headers=auth(key))
                if role == needed or role == "admin":
                    assert response.status_code not in (401, 403), (path, role, response.text)
                else:
                    assert response.status_code == 403, (path, role, response.text)
                    assert response.json()["error"] == "Forbidden"

    def test_x_api_key_header_works(self, client: TestClient, serving_env: dict[str, str]) -> None:
        assert client.get("/v1/thresholds", headers={"X-API-Key": serving_env["lead"]}).status_code == 200

    def test_keys_are_reread_when_the_file_changes(
        self, client: TestClient, serving_env: dict[str, str], tmp_path
    ) -> None:
        from serving.auth import add_key, remove_key

        path = tmp_path / "api-keys.json"
        new = add_key(path, "late-router", "router")
        assert client.get("/v1/messages/x", headers=auth(new)).status_code == 404
        remove_key(path, "late-router")
        assert client.get("/v1/messages/x", headers=auth(new)).status_code == 401


class TestAdmin:
    def test_model_and_thresholds(
        self, client: TestClient, serving_env: dict[str, str], shared: Exported
    ) -> None:
        model = client.get("/v1/admin/model", headers=auth(serving_env["admin"])).json()
        assert model["version"] == shared.version
        assert set(model["label_sets"]) == {"line_of_business", "queue", "topic"}
        thresholds = client.get("/v1/thresholds", headers=auth(serving_env["lead"])).json()
        assert thresholds["version"] is None
        assert thresholds["values"]["topic"]["card_replacement"] is None

    def test_reload_to_an_unknown_version_keeps_the_model(
        self, client: TestClient, serving_env: dict[str, str], shared: Exported, stored: list[str]
    ) -> None:
        response = client.post(
            "/v1/admin/reload", json={"model": "v0099"}, headers=auth(serving_env["admin"])
        )
        assert response.status_code == 404
        assert "v0099" in response.json()["detail"]
        again = client.post(
            "/v1/classify", json={"message_id": stored[0]}, headers=auth(serving_env["router"])
        )
        assert again.status_code == 200 and again.json()["model_version"] == shared.version
        assert client.get("/readyz").status_code == 200

    def test_reload_to_an_unpublished_variant_is_refused(
        self, client: TestClient, serving_env: dict[str, str], shared: Exported
    ) -> None:
        unpublished = [v["variant"] for v in shared.parity["variants"] if not v["published"]]
        published = [v["variant"] for v in shared.parity["variants"] if v["published"]]
        for variant in unpublished:
            response = client.post(
                "/v1/admin/reload", json={"variant": variant}, headers=auth(serving_env["admin"])
            )
            assert response.status_code == 503
            assert "not published" in response.json()["detail"]
        response = client.post(
            "/v1/admin/reload", json={"variant": published[0]}, headers=auth(serving_env["admin"])
        )
        assert response.status_code == 200, response.text
        assert response.json()["current"]["variant"] == published[0]
        assert response.json()["previous"]["version"] == shared.version
        # every reload is recorded with the key that asked; the refused ones are not reloads
        events = client.get("/v1/events?kind=model.reloaded", headers=auth(serving_env["admin"])).json()
        [event] = events["events"]
        assert event["actor"] == "test-admin" and event["subject"] == shared.version
        assert event["payload"]["variant"] == published[0] and event["payload"]["asked"] == "configured"
        assert event["payload"]["previous"] == shared.version

    def test_a_reload_stands_when_the_store_cannot_take_its_audit_event(
        self, client: TestClient, serving_env: dict[str, str], shared: Exported, monkeypatch, caplog
    ) -> None:
        from postroom.store import StoreError
        from serving.routes import admin as admin_routes

        def failing(_session) -> None:  # type: ignore[no-untyped-def]
            raise StoreError("the store at sqlite:///x is read-only")

        monkeypatch.setattr(admin_routes, "commit", failing)
        response = client.post("/v1/admin/reload", headers=auth(serving_env["admin"]))
        assert response.status_code == 200, response.text  # the new model serves: the answer says so
        assert response.json()["current"]["version"] == shared.version
        assert any("audit event of the reload" in r.getMessage() for r in caplog.records)

    def test_reload_to_a_candidate_nobody_approved_is_409(
        self, make_client, serving_env: dict[str, str], tmp_path
    ) -> None:
        from serving.artifacts import EXPORT_MANIFEST
        from tests.training.test_registry import publish
        from training.registry import Registry

        registry = Registry(tmp_path / "registry")
        version = publish(registry)  # a candidate
        client = make_client(models_dir=tmp_path / "registry")
        admin = auth(serving_env["admin"])
        response = client.post("/v1/admin/reload", json={"model": version}, headers=admin)
        assert response.status_code == 409, response.text
        assert response.json()["detail"] == (
            f"{version} is a candidate: approve it before serving it (postroom models approve {version} "
            "--reason …)"
        )
        export = tmp_path / "registry" / "exports" / version  # a path, in the registry or not: refused
        export.mkdir(parents=True)
        (export / EXPORT_MANIFEST).write_text("{}")
        for path in (str(export), "../registry", "..", "C:\\exports\\v0001"):
            by_path = client.post("/v1/admin/reload", json={"model": path}, headers=admin)
            assert by_path.status_code == 422 and "not a path" in by_path.json()["detail"], path
        assert client.get("/readyz").status_code == 503  # nothing was loaded
        events = client.get("/v1/events?kind=model.reloaded", headers=admin).json()
        assert events["events"] == []
