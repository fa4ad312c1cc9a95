"""The gauges that read the store, kept up to date in the background: `/metrics` never waits for the store.

- `postroom_auto_replies_paused`: whether the active thresholds were calibrated for another model than the
  one serving (`ClassifyService.replies_paused`; a classify call sets it too);
- `postroom_realized_label_accuracy` / `_judged`: the served model's outcomes over the feedback window
  (`router.outcomes`), a query that takes seconds on a month of busy feedback, so no request runs it.

One thread per process recomputes both every `POSTROOM_SERVE_GAUGES_SECONDS` and at once when the served
model changes. A failure (a store that does not answer, a row changed by hand) is logged once as a warning
and leaves the gauges as they were; the next round tries again.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from postroom.settings import Settings
from postroom.taxonomy import Taxonomy
from router.outcomes import routing_outcomes
from serving.lifecycle import ModelHolder
from serving.metrics import Metrics
from serving.service import ClassifyService

log = logging.getLogger("postroom.serving")


class StoreGauges:
    """Recomputes the store-backed gauges: `refresh()` once, `start()` for the background thread."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        taxonomy: Taxonomy,
        settings: Settings,
        metrics: Metrics,
        holder: ModelHolder,
        classifier: ClassifyService,
    ) -> None:
        self._sessions = sessions
        self._taxonomy = taxonomy
        self._settings = settings
        self._metrics = metrics
        self._holder = holder
        self._classifier = classifier
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one refresh at a time (the thread, a test, the start)
        self._failed: str | None = None
        self._thread: threading.Thread | None = None

    def refresh(self) -> None:
        """Recompute both gauges now; a failure is logged (once while it lasts), never raised."""
        with self._lock:
            model = self._holder.loaded
            version = model.version if model is not None else None
            try:
                with self._sessions() as session:
                    self._classifier.refresh_paused(session)
                    series = {}
                    if version is not None:
                        window = self._settings.feedback_window_days
                        result = routing_outcomes(session, self._taxonomy, window, model_version=version)
                        series = result.judged_of(version)
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"
                if problem != self._failed:
                    log.warning("store-backed gauges not refreshed (kept as they were): %s", problem[:300])
                self._failed = problem
                return
            if self._failed is not None:
                log.info("store-backed gauges refreshed again")
            self._failed = None
            current = self._holder.loaded
            if (current.version if current is not None else None) == version:  # not for a replaced model
                self._metrics.outcomes_changed(series)

    def model_changed(self) -> None:
        """The served model changed: recompute soon (in the thread), not in the caller's request."""
        self._wake.set()

    def start(self) -> None:
        seconds = self._settings.serve_gauges_seconds

        def loop() -> None:
            while not self._stop.is_set():
                self._wake.wait(seconds if seconds > 0 else None)
                self._wake.clear()
                if not self._stop.is_set():
                    self.refresh()

        self._thread = threading.Thread(target=loop, name="store-gauges", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
