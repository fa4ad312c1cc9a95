"""What an expert sees: Doccano's annotation page in headless Chromium, with the labels and the metadata.

Needs Debian's `chromium` (apt) and the `playwright` package (pip; no `playwright install`: the system
Chromium is used). The screenshot goes to `tests/artifacts/doccano-annotation.png` (git-ignored); the copy in
`docs/images/` is one this test took.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from labeling.project import label_text, open_project
from labeling.sync import push_messages
from postroom.store import create_store_engine, migrate, session_factory
from postroom.taxonomy import Taxonomy
from tests.conftest import REPO_ROOT
from tests.labeling.builders import bank_mails, store_mails
from tests.labeling.conftest import EXPERT_PASSWORD, DoccanoServer

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"


@pytest.fixture
def sqlite_sessions(tmp_path: Path) -> sessionmaker[Session]:
    """A store of its own: one screenshot is enough, whatever store backends the session tests."""
    engine = create_store_engine(f"sqlite:///{tmp_path / 'shot.db'}")
    migrate(engine)
    return session_factory(engine)


def test_annotation_page_shows_prefixed_labels_and_metadata(
    doccano: DoccanoServer, sqlite_sessions: sessionmaker[Session], taxonomy: Taxonomy
) -> None:
    sessions = sqlite_sessions
    project_name = f"postroom-{taxonomy.name}"  # the name the project has in a deployment
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="pip install playwright (see docs/labeling.md)"
    )
    if not CHROMIUM.is_file():
        pytest.skip("no /usr/bin/chromium: apt-get install -y chromium")
    mails = bank_mails(24, prefix="shot")
    mail = mails[9]  # German, card payment declined
    store_mails(sessions, mails)
    with doccano.admin() as admin, doccano.expert("anna") as anna:
        push_messages(
            sessions, admin, taxonomy, project_name, [mail.message_id, *(m.message_id for m in mails[:3])]
        )
        layout = open_project(admin, taxonomy, project_name)
        user = admin.find_user("anna")
        assert user is not None
        admin.add_member(layout.id, user)
        example = next(e for e in anna.examples(layout.id) if e.meta["message_id"] == mail.message_id)
        for set_name in ("line_of_business", "queue"):  # half done: two sets chosen, the topic still open
            anna.add_category(
                layout.id, example.id, layout.label_ids[label_text(taxonomy, set_name, mail.labels[set_name])]
            )

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "doccano-annotation.png"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 820})
            page.goto(f"{doccano.url}/auth", wait_until="networkidle")
            page.fill("input[name=username]", "anna")
            page.fill("input[name=password]", EXPERT_PASSWORD)
            page.click("button[data-test=delete-button]")  # Doccano's login button carries this test id
            page.wait_for_url("**/projects**")
            page.goto(
                f"{doccano.url}/projects/{layout.id}/text-classification?page=1", wait_until="networkidle"
            )
            page.get_by_text(mail.message_id).wait_for()
            body = page.inner_text("body")
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert "topic:card_payment_declined" in body and "lob:retail" in body and "queue:cards" in body
    assert f"Subject: {mail.subject}\n" in body  # the subject on a line of its own, above the body
    for key, value in (("message_id", mail.message_id), ("language", "de"), ("subject", mail.subject)):
        assert key in body and value in body
    assert shot.stat().st_size > 20_000
