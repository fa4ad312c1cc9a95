"""The team lead's page in a real browser against a real uvicorn on loopback (slow: `make test-slow`).

The store holds calibration predictions, an applied suggestion and feedback (one class suspended by it); the
test signs in, moves a slider, checks the live coverage and precision against the curve, applies a change
with a reason, and sees the new version through the API. Screenshots: tests/artifacts/lead-page.png (the whole
page) and lead-page-top.png (the reply set), copied to docs/images/lead-page.png.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from postroom.settings import get_settings
from serving.loopback import free_port
from tests.conftest import REPO_ROOT
from tests.serving.lead_data import auto_replied, seed_calibration

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACT = REPO_ROOT / "tests" / "artifacts" / "lead-page.png"
ARTIFACT_TOP = ARTIFACT.with_name("lead-page-top.png")
DOCS_IMAGE = REPO_ROOT / "docs" / "images" / "lead-page.png"


@pytest.fixture
def service_url(engine: Any, keys: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """uvicorn serving the app on a free loopback port, on the test store, without a model."""
    settings = get_settings()
    env = {
        **os.environ,
        "POSTROOM_DATABASE_URL": settings.database_url,
        "POSTROOM_DATA_DIR": str(settings.data_dir),
        "POSTROOM_MODELS_DIR": str(tmp_path / "no-models"),
        "POSTROOM_API_KEYS_FILE": str(tmp_path / "api-keys.json"),
        "POSTROOM_SERVE_WATCH_SECONDS": "0",
    }
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "serving.app:create_app", "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"uvicorn exited with code {process.returncode}"
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "uvicorn did not answer /healthz within 60 s"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def seed(url: str, keys: dict[str, str], sessions: sessionmaker[Session]) -> None:
    """Calibration data, an applied suggestion, a manual change, and feedback that suspends one class."""
    with sessions() as session:
        seed_calibration(session, "v0001", per_class=200)
    lead = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys['lead']}"}, timeout=30)
    router = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys['router']}"}, timeout=30)
    with lead, router:
        applied = lead.post(
            "/v1/thresholds/suggest/apply",
            json={"model_version": "v0001", "queue_precision": 0.9, "reason": "first calibration of v0001"},
        )
        assert applied.status_code == 201, applied.text
        stricter = {
            "changes": {"topic": {"tax_certificate": 0.9}},
            "reason": "tax season: fewer wrong replies",
        }
        assert lead.post("/v1/thresholds", json=stricter).status_code == 201
        version = lead.get("/v1/thresholds").json()["version"]
        outcomes = {"account_statement": [True] * 28 + [False], "tax_certificate": [True] * 12}
        outcomes["card_replacement"] = [True] * 6 + [False] * 4
        with sessions() as session:
            for reply_class, results in outcomes.items():
                for i in range(len(results)):
                    auto_replied(session, f"{reply_class}-{i}@example.org", reply_class, version)
            session.commit()
        for reply_class, results in outcomes.items():
            for i, right in enumerate(results):
                final = reply_class if right else "fee_complaint"
                body = {
                    "message_id": f"{reply_class}-{i}@example.org",
                    "final_labels": {"topic": final},
                    "auto_reply_resolved": right,
                }
                assert router.post("/v1/feedback", json=body).status_code == 201
        events = lead.get("/v1/events?kind=auto_reply_suspended").json()["events"]
        assert [e["subject"] for e in events] == ["topic.card_replacement"]


def point_at(curve: list[dict[str, Any]], threshold: float) -> dict[str, Any] | None:
    """What the page computes: the curve point with the lowest threshold still at or above `threshold`."""
    at_or_above = [p for p in curve if p["threshold"] >= threshold - 1e-12]
    return min(at_or_above, key=lambda p: p["threshold"]) if at_or_above else None


def test_lead_page_in_a_browser(
    service_url: str, keys: dict[str, str], sessions: sessionmaker[Session]
) -> None:
    from playwright.sync_api import sync_playwright

    seed(service_url, keys, sessions)
    lead = {"Authorization": f"Bearer {keys['lead']}"}
    overview = httpx.get(f"{service_url}/v1/lead/overview", headers=lead, timeout=30).json()
    statement = next(c for c in overview["label_sets"][0]["classes"] if c["name"] == "account_statement")
    expected = point_at(statement["curve"], 0.6)
    assert expected is not None

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(f"{service_url}/lead")

            # A router key is refused with the reason; a lead key opens the page.
            page.fill("#key", keys["router"])
            # Wait for the browser's own console entry about the refused request too, so that it cannot
            # arrive after `problems.clear()` below (a race seen on a loaded machine).
            with page.expect_console_message(lambda m: m.type == "error" and "403" in m.text):
                page.click("#login-form button")
            page.wait_for_selector("#login-error:has-text('403')")
            assert "needs the lead role" in page.inner_text("#login-error")
            problems.clear()  # the browser logs the refused requests as console errors
            page.fill("#key", keys["lead"])
            page.click("#login-form button")
            card = page.locator('[data-testid="class-topic-account_statement"]')
            card.wait_for()
            assert "suspended" in page.inner_text('[data-testid="class-topic-card_replacement"]')
            assert "28 of 29 automated replies right (96.6\u00a0%)" in card.inner_text()
            assert "template de · en" in card.inner_text()
            assert "Automatic suspensions" in page.inner_text("#suspensions")

            # Moving the slider changes the live coverage and precision.
            live = page.locator('[data-testid="live-topic-account_statement"]')
            before = live.inner_text()
            slider = page.locator('[data-testid="slider-topic-account_statement"]')
            slider.scroll_into_view_if_needed()
            box = slider.bounding_box()
            assert box is not None
            page.mouse.click(box["x"] + box["width"] * 0.15, box["y"] + box["height"] / 2)
            after = live.inner_text()
            assert after != before and "of messages, precision" in after, (before, after)

            # An exact candidate shows the curve's numbers.
            number = card.locator('input[type="number"]')
            number.fill("0.6")
            text = live.inner_text()
            assert text.startswith("At 0.600: ")
            assert f"{expected['coverage'] * 100:.1f}\u00a0% of messages" in text
            assert f"precision {expected['precision'] * 100:.1f}\u00a0%" in text
            ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACT), full_page=True)
            bottom = page.evaluate(
                "document.querySelector('.untemplated').getBoundingClientRect().bottom + scrollY"
            )
            clip = {"x": 0, "y": 0, "width": 1400, "height": bottom + 16}
            page.screenshot(path=str(ARTIFACT_TOP), full_page=True, clip=clip)  # for the docs: the reply set

            # A value outside [0, 1] typed in the box is refused as typed (not replaced by the slider's).
            active_before = httpx.get(f"{service_url}/v1/thresholds", headers=lead).json()["version"]
            for typed in ("95", "1.5", "-0.1"):
                number.fill(typed)
                card.locator('[data-testid="apply-topic-account_statement"]').click()
                card.locator(".error:has-text('must be a number between 0 and 1')").wait_for()
            assert httpx.get(f"{service_url}/v1/thresholds", headers=lead).json()["version"] == active_before
            number.fill("0.6")

            # Apply without a reason: nothing happens; with one: a new version, visible through the API.
            page.once("dialog", lambda dialog: dialog.accept(""))
            card.locator('[data-testid="apply-topic-account_statement"]').click()
            page.wait_for_selector("text=Not applied: a reason is required.")
            page.once(
                "dialog", lambda dialog: dialog.accept("more automated statements, checked with the team")
            )
            card.locator('[data-testid="apply-topic-account_statement"]').click()
            page.wait_for_selector("#banner:has-text('is active')")
            newest = httpx.get(f"{service_url}/v1/thresholds/history?limit=1", headers=lead).json()[
                "versions"
            ][0]
            assert newest["created_by"] == "test-lead"
            assert newest["reason"] == "more automated statements, checked with the team"
            assert [(c["class"], c["new"]) for c in newest["changes"]] == [("account_statement", 0.6)]
            assert f"Version {newest['version']} is active" in page.inner_text("#banner")
            assert page.locator(f'[data-testid="version-{newest["version"]}"]').is_visible()

            # Someone else changes the thresholds meanwhile: the page shows the 409 and changes nothing.
            other = {"changes": {"queue": {"cards": 0.5}}, "reason": "meanwhile"}
            assert httpx.post(f"{service_url}/v1/thresholds", json=other, headers=lead).status_code == 201
            tax = page.locator('[data-testid="class-topic-tax_certificate"]')
            tax.locator('input[type="number"]').fill("0.95")
            page.once("dialog", lambda dialog: dialog.accept("stricter"))
            tax.locator('[data-testid="apply-topic-tax_certificate"]').click()
            tax.locator(".error:has-text('409')").wait_for()
            problems = [p for p in problems if "409" not in p]
            active = httpx.get(f"{service_url}/v1/thresholds", headers=lead).json()
            assert active["version"] == newest["version"] + 1
            assert active["values"]["topic"]["tax_certificate"] == 0.9
        finally:
            browser.close()
    assert problems == [], problems
    assert "postroom_unhandled_errors_total{" not in httpx.get(f"{service_url}/metrics").text
    DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ARTIFACT_TOP, DOCS_IMAGE)
