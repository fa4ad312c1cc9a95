"""Model lifecycle: load the production version at start, swap atomically on reload or promotion.

The app holds one reference to an immutable `LoadedModel`. A request reads it once and uses that object to
the end, so the model version it reports and stores is the one that computed its probabilities. A reload
builds the new model completely, then replaces the reference; requests in flight finish on the old model
(its batcher drains its queue), none fail. A failed reload keeps the old model and says why.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from postroom.errors import PostroomError
from postroom.machine import usable_cores
from postroom.settings import Settings
from serving.artifacts import EXPORT_MANIFEST, export_dir
from serving.batching import MicroBatcher
from serving.errors import InvalidRequest, ModelNotApproved, ModelNotLoaded, ModelUnavailable
from serving.runtime import OnnxClassifier, Prediction
from training.registry import CANDIDATE, Registry

log = logging.getLogger("postroom.serving")


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: a registry version's export, or an export directory named directly."""

    path: Path
    version: str
    spec: str  # what was asked for: production, v0003, a path


@dataclass(frozen=True)
class LoadedModel:
    """A classifier with its batcher; never changes after construction."""

    classifier: OnnxClassifier
    batcher: MicroBatcher[Prediction]
    source: ModelSource
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def version(self) -> str:
        return self.classifier.version

    @property
    def variant(self) -> str:
        return self.classifier.variant

    @property
    def provider(self) -> str:
        return self.classifier.provider

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        return self.batcher.submit(texts)

    def close(self) -> None:
        self.batcher.close()


def _is_export(path: Path) -> bool:
    """Whether `path` holds an export manifest; a name too long for the file system holds none."""
    try:
        return (path / EXPORT_MANIFEST).is_file()
    except OSError:
        return False


def resolve_source(registry_dir: Path, spec: str) -> ModelSource:
    """`production`, a version name or number, `latest`, or the path of an export directory.

    Raises:
        ModelUnavailable: nothing in production, or the version has no export.
        VersionNotFound: no such version.
    """
    candidate = Path(spec)
    if _is_export(candidate):
        return ModelSource(candidate, candidate.name, spec)
    registry = Registry(registry_dir)
    if spec == "production":
        version = registry.production()
        if version is None:
            raise ModelUnavailable(
                f"no model version is in production in {registry_dir}: train, export and promote one "
                "(postroom train; postroom export VERSION; postroom models approve/promote VERSION)"
            )
    else:
        version = registry.get(spec)
    path = export_dir(registry_dir, version.version)
    if not (path / EXPORT_MANIFEST).is_file():
        raise ModelUnavailable(
            f"version {version.version} has no ONNX export: run `postroom export {version.version}`"
        )
    return ModelSource(path, version.version, spec)


def refuse_path(spec: str | None) -> None:
    """Refuse an export directory named over the API (`POST /v1/admin/reload`): approval is the registry's
    gate, and a directory outside the registry would be served under the version its manifest claims. A
    path is served only where the configuration names it (`POSTROOM_SERVE_MODEL`).

    Raises:
        InvalidRequest: `spec` is a path (a separator, `.`/`..`, or a directory here holding an export).
    """
    if spec is None:
        return
    if "/" in spec or "\\" in spec or spec in (".", "..") or _is_export(Path(spec)):
        raise InvalidRequest(
            "model names a registry version (v0004, 4, latest) or production, not a path: an export "
            "directory is served only where the configuration names it (POSTROOM_SERVE_MODEL)"
        )


def refuse_candidate(registry_dir: Path, spec: str | None) -> None:
    """Refuse to serve a registry version that nobody has approved (`POST /v1/admin/reload` with a version,
    after `refuse_path`): approval is the registry's gate, so a candidate is served only where the
    configuration names it (`POSTROOM_SERVE_MODEL`, as `make demo`'s held-out run does). `production`
    passes; an unknown version is left to the loader (404).

    Raises:
        ModelNotApproved: `spec` names a candidate version.
    """
    if spec is None or spec == "production":
        return
    try:
        version = Registry(registry_dir).get(spec)
    except PostroomError:
        return  # the loader says what is wrong with it
    if version.stage == CANDIDATE:
        raise ModelNotApproved(
            f"{version.version} is a candidate: approve it before serving it "
            f"(postroom models approve {version.version} --reason …)"
        )


def build_classifier(source: ModelSource, settings: Settings, variant: str | None = None) -> OnnxClassifier:
    """The classifier the service would run for `source` with these settings (`variant` overrides).

    Each uvicorn worker process holds its own model: the cores are shared out among the workers.
    """
    return OnnxClassifier(
        source.path,
        variant=variant or settings.serve_variant,
        provider=settings.serve_provider,
        threads=settings.serve_threads,
        streams=settings.serve_streams,
        cores=max(1, usable_cores() // settings.serve_workers),
        max_batch=settings.serve_max_batch,
    )


def load_model(source: ModelSource, settings: Settings, variant: str | None = None) -> LoadedModel:
    classifier = build_classifier(source, settings, variant)
    batcher: MicroBatcher[Prediction] = MicroBatcher(
        classifier.predict, settings.serve_max_batch, name=classifier.version
    )
    return LoadedModel(classifier, batcher, source)


Loader = Callable[[str, str | None], LoadedModel]
Listener = Callable[[LoadedModel | None, LoadedModel | None, str | None], None]


class ModelHolder:
    """The app's one reference to the loaded model, and the only code that replaces it."""

    def __init__(self, loader: Loader, default_spec: str, on_change: Listener | None = None) -> None:
        self._loader = loader
        self._default_spec = default_spec
        self._on_change = on_change
        self._current: LoadedModel | None = None
        self._problem: str | None = "the model is loading"
        self._reload_lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def current(self) -> LoadedModel:
        """The model to use for one request (read once per request).

        Raises:
            ModelNotLoaded: no model could be loaded; the detail says why.
        """
        model = self._current
        if model is None:
            raise ModelNotLoaded(f"no model loaded: {self._problem}")
        return model

    @property
    def loaded(self) -> LoadedModel | None:
        return self._current

    @property
    def problem(self) -> str | None:
        """Why the last load failed (None after a success)."""
        return self._problem

    def load(
        self, spec: str | None = None, variant: str | None = None
    ) -> tuple[LoadedModel | None, LoadedModel]:
        """Build the model named by `spec` (default: the configured one) and swap it in; returns (old, new).

        Raises the loader's error and keeps the current model when the new one cannot be built.
        """
        with self._reload_lock:
            try:
                new = self._loader(spec or self._default_spec, variant)
            except PostroomError as exc:
                self._problem = str(exc)
                if self._on_change:
                    self._on_change(self._current, None, str(exc))
                raise
            old, self._current = self._current, new
            self._problem = None
        if old is not None:
            old.close()
        if self._on_change:
            self._on_change(old, new, None)
        return old, new

    def load_at_start(self) -> None:
        """Load the configured model; on failure serve 503s with the reason instead of crashing."""
        try:
            self.load()
        except PostroomError as exc:
            log.error("no model loaded at start: %s", exc)

    def watch(self, registry_dir: Path, seconds: float) -> None:
        """Follow promotions: poll the registry and reload when the production version changes."""
        if seconds <= 0 or self._default_spec != "production":
            return

        def loop() -> None:
            failed_for: str | None = None
            while not self._stop.wait(seconds):
                try:
                    wanted = resolve_source(registry_dir, "production").version
                except PostroomError as exc:
                    if failed_for != str(exc):
                        log.warning("registry watch: %s", exc)
                        failed_for = str(exc)
                    continue
                current = self._current
                if current is not None and current.version == wanted:
                    continue
                try:
                    self.load("production")
                    log.info("registry watch: now serving %s", wanted)
                    failed_for = None
                except PostroomError as exc:
                    if failed_for != str(exc):
                        log.warning("registry watch: cannot load %s: %s", wanted, exc)
                        failed_for = str(exc)

        self._watcher = threading.Thread(target=loop, name="registry-watch", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(5)
        model, self._current = self._current, None
        self._problem = "the service is shutting down"
        if model is not None:
            model.close()
