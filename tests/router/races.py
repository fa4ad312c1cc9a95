"""Two writers at once: the second runs while the first holds its uncommitted transaction."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

HELD_S = 0.5  # how long the first writer holds its uncommitted transaction while the second one tries


def while_another_writes(
    sessions: sessionmaker[Session], first: Callable[[Session], object], second: Callable[[Session], object]
) -> object:
    """`first` writes in one session and holds its transaction open for HELD_S while `second` runs in
    another (which must wait for it); returns what `second` returned or raised."""
    outcome: list[object] = []
    started = threading.Event()

    def run() -> None:
        with sessions() as session:
            started.set()
            try:
                outcome.append(second(session))
                session.commit()
            except Exception as exc:  # the test inspects it
                session.rollback()
                outcome.append(exc)

    with sessions() as session:
        first(session)
        session.flush()
        thread = threading.Thread(target=run)
        thread.start()
        started.wait()
        time.sleep(HELD_S)
        assert not outcome, "the second writer did not wait for the first"
        session.commit()
    thread.join(timeout=30)
    assert outcome, "the second writer never finished"
    return outcome[0]
