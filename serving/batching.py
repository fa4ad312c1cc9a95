"""Micro-batching: one worker thread runs the model on every text that is waiting, up to a batch at a time.

There is no waiting window: when one request is alone it runs at once; when several arrive while the model
is busy, the next run takes them together. Concurrent clients then share one run instead of competing for the
same cores (and a GPU gets the batches it needs). `close()` lets queued work finish; a request that reaches a
closed batcher (it picked up the model just before a swap) runs in its own thread, on the same model.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

R = TypeVar("R")
_STOP = object()


class MicroBatcher(Generic[R]):
    """Serialises calls of `run(texts) -> results` and merges the ones that wait."""

    def __init__(self, run: Callable[[Sequence[str]], list[R]], max_batch: int, name: str = "model") -> None:
        self._run = run
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()  # nothing is queued behind the stop marker
        self._thread = threading.Thread(target=self._work, name=f"batcher-{name}", daemon=True)
        self._thread.start()
        self.runs = 0  # model runs so far (tests and metrics read it)

    def submit(self, texts: Sequence[str]) -> list[R]:
        """Results for `texts`, in order; blocks until the model has run them."""
        if not texts:
            return []
        future: Future[list[R]] = Future()
        with self._lock:
            closed = self._closed
            if not closed:
                self._queue.put((list(texts), future))
        if closed:
            return self._run(texts)
        return future.result()

    def close(self, timeout: float | None = 30.0) -> None:
        """Finish what is queued, then stop the worker."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join(timeout)

    def _work(self) -> None:
        pending: tuple[list[str], Future[list[R]]] | None = None
        while True:
            item = pending or self._queue.get()
            pending = None
            if item is _STOP:
                return
            batch = [item]
            size = len(item[0])  # type: ignore[index]
            stop = False
            while size < self._max_batch:
                try:
                    extra = self._queue.get_nowait()
                except queue.Empty:
                    break
                if extra is _STOP:
                    stop = True
                    break
                if size + len(extra[0]) > self._max_batch:  # type: ignore[index]
                    pending = extra  # type: ignore[assignment]
                    break
                batch.append(extra)
                size += len(extra[0])  # type: ignore[index]
            self._execute(batch)  # type: ignore[arg-type]
            if stop:
                return

    def _execute(self, batch: list[tuple[list[str], Future[list[R]]]]) -> None:
        texts = [text for item, _ in batch for text in item]
        try:
            results = self._run(texts)
            self.runs += 1
        except BaseException as exc:  # every waiting caller gets the error, the worker lives on
            for _, future in batch:
                future.set_exception(exc)
            return
        start = 0
        for item, future in batch:
            future.set_result(results[start : start + len(item)])
            start += len(item)
