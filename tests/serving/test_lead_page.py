"""The team lead's page in a real browser against a real uvicorn on loopback (slow: `make test-slow`).

The store holds calibration predictions, an applied suggestion and feedback (one class suspended by it); the
test signs in, moves a slider, checks the live coverage and precision against the curve, applies a change
with a reason, and sees the new version through the API; it shows older versions, rolls back (the confirmation
names the classes that change), shows a model's curves without a queue precision target, and looks at the page
400 px and 800 px wide. Screenshots: tests/artifacts/lead-page.png (the whole page), lead-page-top.png (the
reply set, copied to docs/images/lead-page.png) and lead-page-narrow.png (400 px wide).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from postroom.settings import get_settings
from serving.loopback import running_service
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
ARTIFACT_NARROW = ARTIFACT.with_name("lead-page-narrow.png")
ARTIFACT_OUTCOMES = ARTIFACT.with_name("lead-page-outcomes.png")
TINY = 1e-320  # a threshold the page must not show as 0.000
FILLERS = 12  # versions between the suggestion and the rest, so that the history has more than one page
DOCS_IMAGE = REPO_ROOT / "docs" / "images" / "lead-page.png"


@pytest.fixture
def service_url(engine: Any, keys: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """uvicorn serving the app on a free loopback port, on the test store, without a model."""
    settings = get_settings()
    env = {
        "POSTROOM_DATABASE_URL": settings.database_url,
        "POSTROOM_DATA_DIR": str(settings.data_dir),
        "POSTROOM_MODELS_DIR": str(tmp_path / "no-models"),
        "POSTROOM_API_KEYS_FILE": str(tmp_path / "api-keys.json"),
        "POSTROOM_SERVE_WATCH_SECONDS": "0",
    }
    with running_service(env, timeout=60, model=False) as service:
        yield service.url


def seed(url: str, keys: dict[str, str], sessions: sessionmaker[Session]) -> None:
    """Calibration data (v0001; v0002 without any suggestion), an applied suggestion with a queue precision,
    manual changes (one to a tiny value), and feedback that suspends one class."""
    with sessions() as session:
        seed_calibration(session, "v0001", per_class=200)
        seed_calibration(session, "v0002", per_class=60, classes=("account_statement", "card_replacement"))
    lead = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys['lead']}"}, timeout=30)
    router = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys['router']}"}, timeout=30)
    with lead, router:
        applied = lead.post(
            "/v1/thresholds/suggest/apply",
            json={"model_version": "v0001", "queue_precision": 0.9, "reason": "first calibration of v0001"},
        )
        assert applied.status_code == 201, applied.text
        for i in range(FILLERS):
            step = {"changes": {"queue": {"complaints": 0.5 + i / 100}}, "reason": f"complaints, step {i}"}
            assert lead.post("/v1/thresholds", json=step).status_code == 201
        tiny = {"changes": {"queue": {"payments": TINY}}, "reason": "payments: triage almost nothing"}
        assert lead.post("/v1/thresholds", json=tiny).status_code == 201
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
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("request", lambda r: requested.append(r.url))
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
            summary = page.inner_text("#summary")
            assert "at 90.0 % confidence, every class on its own" in summary, summary  # per-class
            assert not page.locator("#unbacked-replies").count()  # every reply within the promise
            # The outcomes of the same feedback: 46 of the 51 replied topics were the final one.
            outcome = page.inner_text('[data-testid="outcome-v0001-topic"]')
            assert "46 of 51" in outcome and "90.2\u00a0%" in outcome, outcome
            assert "Outcomes, last 30 days" in page.inner_text("#outcomes")
            ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
            page.locator("#outcomes").screenshot(path=str(ARTIFACT_OUTCOMES))
            # The icon is inline (no request for /favicon.ico) and loads under the page's CSP (img-src data:).
            icon = page.evaluate(
                """() => new Promise((resolve) => {
                    const image = new Image();
                    image.onload = () => resolve(image.naturalWidth);
                    image.onerror = () => resolve(-1);
                    image.src = document.querySelector('link[rel="icon"]').href;
                })"""
            )
            assert icon > 0, icon

            # v0001's suggestion was asked for a queue precision of 0.9: the queue cards have that target.
            accounts = page.locator('[data-testid="class-queue-accounts"]')
            assert accounts.locator(".chart .target-label").text_content() == "target 90%"
            assert "queue precision of 90.0\u00a0%" in page.inner_text("#sets")
            # A tiny threshold is "< 0.001" (exact in the title), never 0.000; badge and text agree.
            payments = page.locator('[data-testid="class-queue-payments"]')
            badge = payments.locator(".badge").first
            assert badge.inner_text() == "triage below < 0.001"
            assert badge.get_attribute("title") == "exact: 1e-320"
            assert "0.000" not in payments.inner_text()
            assert payments.locator('input[type="number"]').input_value() == "1e-320"
            tiny_change = page.locator(".change:has-text('queue.payments')")
            assert tiny_change.inner_text().endswith("→ < 0.001")
            assert tiny_change.get_attribute("title") == "exact: 1e-320"

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
            # 0 on a reply class answers every prediction of it: the page asks; cancelled, nothing is sent.
            number.fill("0")
            asked: list[str] = []
            page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
            card.locator('[data-testid="apply-topic-account_statement"]').click()
            card.locator(".error:has-text('Not applied: 0 would answer every message')").wait_for()
            assert asked and "however unsure the model is" in asked[0] and "Turn off" in asked[0]
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

            # History: the 15 newest versions; "Show more" reaches the first one.
            page.click("#refresh")
            page.locator(f'[data-testid="version-{active["version"]}"]').wait_for()
            assert page.locator("#history tbody tr").count() == 15
            assert not page.locator('[data-testid="version-1"]').count()
            page.click("#history-more")
            page.locator('[data-testid="version-1"]').wait_for()
            assert page.locator("#history tbody tr").count() == active["version"]
            assert "All " in page.inner_text(".history-foot") and not page.locator("#history-more").count()

            # Roll back to version 1: the confirmation names the classes that change; the new version is
            # marked as a rollback.
            first = httpx.get(f"{service_url}/v1/thresholds/history?limit=500", headers=lead).json()
            v1 = next(v for v in first["versions"] if v["version"] == 1)["values"]
            differ = [
                f"{name}.{cls}"
                for name, per in v1.items()
                for cls, value in per.items()
                if cls in active["values"].get(name, {}) and active["values"][name][cls] != value
            ]
            assert "topic.tax_certificate" in differ and "queue.payments" in differ
            asked: list[str] = []

            def confirm(dialog: Any) -> None:
                asked.append(dialog.message)
                dialog.accept("v1 was better")

            page.once("dialog", confirm)
            page.click('[data-testid="rollback-1"]')
            page.wait_for_selector("#banner:has-text('is active')")
            assert asked and asked[0].startswith("Roll back to version 1? ")
            assert f"This changes {len(differ)} classes:" in asked[0]
            assert all(f"\n{name} " in asked[0] for name in differ), (differ, asked[0])
            assert "topic.tax_certificate 0.9 → " in asked[0] and "queue.payments 1e-320 → " in asked[0]
            assert "topic.card_replacement off → " in asked[0]
            monitor = "(switched off by the feedback monitor: this turns its automated replies back on)"
            assert monitor in asked[0]
            newest_url = f"{service_url}/v1/thresholds/history?limit=1"
            rolled = httpx.get(newest_url, headers=lead).json()["versions"][0]
            assert rolled["rollback_to"] == 1 and len(rolled["changes"]) == len(differ)
            mark = page.locator(f'[data-testid="rolled-back-{rolled["version"]}"]')
            assert mark.inner_text() == "rollback to version 1"
            assert page.locator("#history tbody tr").count() == rolled["version"]  # still showing more

            # A reply set by hand below what the calibration certifies is named as outside the promise.
            low = {"changes": {"topic": {"account_statement": 0.01}}, "reason": "answer them all"}
            assert httpx.post(f"{service_url}/v1/thresholds", json=low, headers=lead).status_code == 201
            page.click("#refresh")
            outside = page.locator("#unbacked-replies")
            outside.wait_for()
            assert outside.inner_text().startswith("Not covered by the promise: account_statement at 0.01 (")
            statement_badge = page.locator('[data-testid="class-topic-account_statement"] .badge').first
            assert statement_badge.inner_text() == "on · 0.010 · not certified"

            # An automated reply whose final queue the CRM reports went to no queue: its own row, so that the
            # rows add up to the judged messages.
            final = {"topic": "account_statement", "queue": "accounts"}
            body = {"message_id": "account_statement-0@example.org", "final_labels": final}
            router = {"Authorization": f"Bearer {keys['router']}"}
            assert httpx.post(f"{service_url}/v1/feedback", json=body, headers=router).status_code == 201
            page.click("#refresh")
            answered = page.locator('[data-testid="sent-v0001-auto-replied"]')
            answered.wait_for()
            cells = answered.inner_text().split("\t")
            assert cells == ["(answered automatically)", "1", "–", "sent to no queue"]

            # No queue precision was ever asked of v0002: its queue cards have no target and nothing red, and
            # each badge says what the text says.
            with_target = httpx.get(f"{service_url}/v1/lead/overview", headers=lead).json()
            assert with_target["label_sets"][1]["target_precision"] == 0.9
            url = f"{service_url}/v1/lead/overview?model_version=v0002"
            plain = httpx.get(url, headers=lead).json()
            queue = plain["label_sets"][1]
            assert queue["target_precision"] is None and all(c["suggested"] is None for c in queue["classes"])
            page.select_option("#model", "v0002")
            page.wait_for_selector("#summary:has-text('calibration data of v0002')")
            queue_cards = page.locator('[data-testid^="class-queue-"]')
            assert queue_cards.count() == len(queue["classes"])
            assert not page.locator('[data-testid^="class-queue-"] .chart .target').count()
            assert not page.locator('[data-testid^="class-queue-"] .live.below').count()
            assert page.locator('[data-testid="class-queue-accounts"] .chart polyline').count() == 1
            assert "No queue precision was asked for" in page.inner_text("#sets")
            for c in queue["classes"]:
                text = page.inner_text(f'[data-testid="class-queue-{c["name"]}"]')
                assert "Suggested\nnone: no queue precision was asked for" in text, text
                if not c["threshold"]:
                    assert "trusted · no triage" in text and "every prediction trusted" in text, text
                else:
                    assert "triage below" in text and "trusted" not in text, text
            assert "target" not in page.inner_text('[data-testid="class-queue-accounts"] .legend')

            # 400 px wide: nothing wider than the screen; each version is a card, its Roll back button inside.
            for width in (400, 800):
                page.set_viewport_size({"width": width, "height": 900})
                scroll_width = page.evaluate("document.documentElement.scrollWidth")
                assert scroll_width <= width, (width, scroll_width)
                button = page.locator('[data-testid="rollback-1"]')
                button.scroll_into_view_if_needed()
                box = button.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (width, box)
                changes = page.locator(f'[data-testid="version-{rolled["version"]}"] .change').first
                box = changes.bounding_box()
                assert box is not None and box["x"] + box["width"] <= width, (width, box)
                header_shown = page.locator("#history thead").is_visible()
                assert header_shown == (width == 800)  # a table at 800 px, cards at 400 px
                if width == 400:
                    page.screenshot(path=str(ARTIFACT_NARROW), full_page=True)
        finally:
            browser.close()
    assert problems == [], problems
    assert not [u for u in requested if u.endswith("/favicon.ico")], requested  # the page has its own icon
    assert "postroom_unhandled_errors_total{" not in httpx.get(f"{service_url}/metrics").text
    DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ARTIFACT_TOP, DOCS_IMAGE)


def test_the_page_says_when_replies_wait_for_thresholds_of_the_served_model(
    engine: Any, serving_env: dict[str, str], sessions: sessionmaker[Session], taxonomy: Any, tmp_path: Path
) -> None:
    """After a promotion the active thresholds belong to the model before: the page says replies wait."""
    from playwright.sync_api import sync_playwright

    from router.thresholds import set_thresholds

    with sessions() as session:
        set_thresholds(
            session, taxonomy, {"topic": {"account_statement": 0.9}}, "lena", "v0000", model_version="v0000"
        )
        session.commit()
    settings = get_settings()
    env = {
        "POSTROOM_DATABASE_URL": settings.database_url,
        "POSTROOM_DATA_DIR": str(settings.data_dir),
        "POSTROOM_MODELS_DIR": str(settings.registry_dir),  # the shared export: v0001 in production
        "POSTROOM_API_KEYS_FILE": str(tmp_path / "api-keys.json"),
        "POSTROOM_SERVE_WATCH_SECONDS": "0",
    }
    problems: list[str] = []
    with running_service(env, timeout=120) as service, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.goto(f"{service.url}/lead")
            page.fill("#key", serving_env["lead"])
            page.click("#login-form button")
            banner = page.locator("#replies-paused")
            banner.wait_for()
            assert banner.inner_text().startswith(
                "automated replies paused: thresholds version 1 were calibrated for model v0000, the service "
                "runs v0001: apply thresholds calibrated for v0001: postroom calibrate --model v0001"
            )
            summary = page.inner_text("#summary").lower()
            assert "calibrated for\nv0000" in summary  # and the curves are the served model's, to calibrate
            assert "curves\ncalibration data of v0001" in summary
            assert "No routed message has feedback" in page.inner_text("#outcomes-none")
        finally:
            browser.close()
    assert problems == []


def test_a_damaged_active_version_leaves_the_history_and_its_roll_back(
    service_url: str, keys: dict[str, str], sessions: sessionmaker[Session], taxonomy: Any
) -> None:
    """The active version's row was changed outside Postroom: the overview answers 503, and the page still
    shows the history, whose Roll back button is the way out; after it the page is whole again."""
    from playwright.sync_api import sync_playwright

    from router.thresholds import set_thresholds
    from tests.router.damaged import damage_version

    with sessions() as session:
        set_thresholds(session, taxonomy, {"topic": {"account_statement": 0.9}}, "lena", "first")
        set_thresholds(session, taxonomy, {"topic": {"account_statement": 0.8}}, "lena", "second")
        session.commit()
    damage_version(sessions, 2, "values", {"topic": {"account_statement": "high"}})
    problems: list[str] = []
    asked: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.goto(f"{service_url}/lead")
            page.fill("#key", keys["lead"])
            page.click("#login-form button")
            page.locator('[data-testid="rollback-1"]').wait_for()
            banner = page.inner_text("#banner")
            assert "thresholds version 2 is damaged" in banner and "Roll back buttons" in banner, banner
            assert page.locator("#summary").is_hidden()
            assert page.locator('#sets [data-testid^="class-"]').count() == 0
            assert "damaged: its topic.account_statement is a string" in page.inner_text("#history")

            def confirm(dialog: Any) -> None:
                asked.append(dialog.message)
                dialog.accept("version 2 was edited by hand")

            page.once("dialog", confirm)
            page.click('[data-testid="rollback-1"]')
            page.wait_for_selector("#banner:has-text('is active')")
            assert "The active version 2 is damaged" in asked[0]
            assert "topic.account_statement → 0.9" in asked[0], asked[0]
            page.locator("#summary").wait_for()
            assert "version 3" in page.inner_text("#summary")
        finally:
            browser.close()
    assert problems == []
    lead = {"Authorization": f"Bearer {keys['lead']}"}
    active = httpx.get(f"{service_url}/v1/thresholds", headers=lead, timeout=30).json()
    assert active["version"] == 3 and active["values"]["topic"]["account_statement"] == 0.9
