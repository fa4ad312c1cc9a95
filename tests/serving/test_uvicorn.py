"""The real thing: uvicorn on loopback in its own process, HTTP round trips by message ID."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from postroom.settings import get_settings
from postroom.store.models import Prediction
from serving.loopback import running_service
from tests.serving.builders import Exported


def test_store_and_classify_over_http(
    serving_env: dict[str, str], shared: Exported, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = get_settings()
    env = {
        "POSTROOM_DATABASE_URL": settings.database_url,
        "POSTROOM_DATA_DIR": str(settings.data_dir),
        "POSTROOM_MODELS_DIR": str(shared.registry_dir),
        "POSTROOM_API_KEYS_FILE": str(tmp_path / "api-keys.json"),
        "POSTROOM_SERVE_WATCH_SECONDS": "0",
        "POSTROOM_SERVE_THREADS": "1",
    }
    router = {"Authorization": f"Bearer {serving_env['router']}"}
    odd = "<50%off/deal?x=1#y@shop.example>"
    with (
        running_service(env) as service,
        httpx.Client(base_url=service.url, headers=router, timeout=30) as client,
    ):
        assert service.model["version"] == shared.version
        created = client.post(
            "/v1/messages",
            json={"message_id": odd, "subject": "Karte gesperrt", "body": "Meine Karte wurde abgelehnt."},
        )
        assert created.status_code == 201, created.text
        stored_id = created.json()["message_id"]
        assert stored_id == "50%off/deal?x=1#y@shop.example"
        classified = client.post("/v1/classify", json={"message_id": odd})
        assert classified.status_code == 200, classified.text
        assert classified.json()["model_version"] == shared.version
        fetched = client.get(f"/v1/messages/{quote(stored_id, safe='')}")
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["latest_prediction"]["prediction_id"] == classified.json()["prediction_id"]
        assert (
            client.post(
                "/v1/classify", content=b"{", headers={"Content-Type": "application/json"}
            ).status_code
            == 422
        )
        assert client.get("/healthz").json() == {"status": "alive"}
        assert "postroom_model_info" in client.get("/metrics").text
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == 1
