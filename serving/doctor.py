"""`postroom doctor`'s look at what the service would serve (entry-point group `postroom.doctor`).

The core's `doctor` checks settings, store, taxonomy and ONNX Runtime but reads no registry; this check
loads the model `POSTROOM_SERVE_MODEL` names exactly as `postroom serve` would (every file checked against
its export's SHA-256, the variant and provider chosen for this machine), compares what it predicts with the
configured taxonomy, and says whether the active thresholds were calibrated for it. An operator learns
before a restart what `/readyz` and the routing reasons would tell after it.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from postroom.clikit import open_sessions
from postroom.errors import PostroomError
from postroom.settings import Settings
from postroom.taxonomy import Taxonomy, load_taxonomy
from postroom.workdirs import DoctorWarning
from router.thresholds import active_thresholds, how_to_resume_replies
from serving.errors import ModelUnavailable
from serving.lifecycle import build_classifier, resolve_source
from training.registry import CANDIDATE, Registry

Check = tuple[str, Callable[[], object]]


def checks(settings: Settings) -> list[Check]:
    """The checks this component adds to `postroom doctor`."""
    return [("served model", lambda: served_model(settings))]


def taxonomy_mismatch(
    taxonomy: Taxonomy, predicted: dict[str, tuple[str, ...]]
) -> tuple[list[str], list[str]]:
    """What keeps a model's predictions from fitting `taxonomy`: (problems that send every message to triage,
    classes of the taxonomy the model never predicts). `predicted`: each label set's classes, as exported."""
    routing = taxonomy.routing
    broken = [
        f"it predicts no {name} (routing needs it)"
        for name in sorted({routing.queue_set, routing.reply_set} - set(predicted))
    ]
    unknown_sets = sorted(set(predicted) - set(taxonomy.set_names))
    if unknown_sets:
        broken.append(f"it predicts label sets the taxonomy lacks: {', '.join(unknown_sets)}")
    never: list[str] = []
    for label_set in taxonomy.label_sets:
        classes = predicted.get(label_set.name)
        if classes is None:
            continue
        if extra := [c for c in classes if c not in label_set.class_names]:
            broken.append(f"its {label_set.name} classes {', '.join(extra)} are not in the taxonomy")
        never += [f"{label_set.name}/{c}" for c in label_set.class_names if c not in classes]
    return broken, never


def served_model(settings: Settings) -> str:
    """Load what the service would serve; the one line `doctor` prints about it.

    Raises:
        DoctorWarning: nothing in production yet (the service starts and answers 503 on /readyz), a
            candidate named by the configuration, taxonomy classes the model never predicts, or automated
            replies paused because the active thresholds were calibrated for another model.
        PostroomError: the configured version does not exist or cannot be loaded (a missing export, a file
            whose checksum changed), or its predictions do not fit the taxonomy (every message would go to
            triage).
    """
    spec = settings.serve_model
    try:
        source = resolve_source(settings.registry_dir, spec)
    except ModelUnavailable as exc:
        if spec == "production" and Registry(settings.registry_dir).production() is None:
            raise DoctorWarning(f"{exc}; until then the service starts and answers 503 on /readyz") from None
        raise
    classifier = build_classifier(source, settings)
    version, variant, provider = classifier.version, classifier.variant, classifier.provider
    predicted = dict(classifier.classes)
    taxonomy = load_taxonomy(settings.taxonomy_path)
    broken, never = taxonomy_mismatch(taxonomy, predicted)
    if broken:
        raise PostroomError(
            f"{version} does not fit the taxonomy {taxonomy.name}: {'; '.join(broken)}: the service would "
            "send every message to the triage queue; serve a version trained on this taxonomy"
        )
    served = f"{version} ({spec}): {variant} on {provider}, {len(predicted)} label sets fit the taxonomy"
    warnings = []
    if spec != "production" and _stage(settings, version) == CANDIDATE:
        warnings.append(f"{version} is a candidate nobody approved, served as POSTROOM_SERVE_MODEL names it")
    if never:
        warnings.append(f"it never predicts {', '.join(never)} (added to the taxonomy after it was trained?)")
    warnings += _thresholds_problem(settings, taxonomy, version)
    if warnings:
        raise DoctorWarning(f"{served}; but {'; '.join(warnings)}")
    return served


def _stage(settings: Settings, version: str) -> str | None:
    try:
        return Registry(settings.registry_dir).get(version).stage
    except PostroomError:  # an export directory outside the registry
        return None


def _thresholds_problem(settings: Settings, taxonomy: Taxonomy, version: str) -> list[str]:
    """Why automated replies would wait for `version`, if they would; nothing when the store cannot be read
    (its own check says why)."""
    try:
        with open_sessions(settings)() as session:
            paused = active_thresholds(session, taxonomy).replies_paused(version)
    except (PostroomError, SQLAlchemyError):  # the store's own check says what is wrong with it
        return []
    return [f"{paused}: {how_to_resume_replies(version)}"] if paused else []
