"""The demo corpus ingests cleanly and covers every class of the default taxonomy in both languages."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from postroom.ingest.readers import read_path
from postroom.ingest.service import ingest_messages
from postroom.store import Message
from postroom.summary import summarize
from postroom.taxonomy import Taxonomy
from tests.conftest import REPO_ROOT

CORPUS = REPO_ROOT / "examples" / "demo" / "corpus.jsonl"


def test_demo_corpus_ingests_without_rejections(sessions: sessionmaker[Session], taxonomy: Taxonomy) -> None:
    report = ingest_messages(sessions, read_path(CORPUS, taxonomy, 25 * 1024 * 1024))
    assert report.ok and report.inserted >= 400, report.rejected[:3]
    with sessions() as session:
        summary = summarize(session, taxonomy)
        assert summary.messages == report.inserted
        assert set(summary.languages) == {"de", "en"} and min(summary.languages.values()) > 150
        for set_name, per_class in summary.classes.items():
            assert summary.labeled[set_name] == summary.messages
            assert min(per_class.values()) >= 20, (set_name, per_class)
        empty = session.scalars(select(Message.message_id).where(Message.cleaned_text == "")).all()
        assert empty == []
        html = session.scalars(select(Message).where(Message.raw_format == "rfc822")).all()
        assert len(html) > 100
        assert all("<div" not in m.cleaned_text and "{" not in m.cleaned_text for m in html)
