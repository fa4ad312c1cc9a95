"""Versioned per-class thresholds: every change is a new immutable version with who, when, why and the diff.

Values: `{label_set: {class: threshold or None}}`. For the reply set, `None` means no automated reply for
that class; for the queue set, a queue prediction below its threshold goes to the triage queue. The newest
version is the active one; a rollback writes a new version equal to an older one, so history only grows.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ScalarSelect, Select, Text, cast, select, text
from sqlalchemy.orm import Session, defer
from sqlalchemy.orm.attributes import set_committed_value

from postroom.errors import shown
from postroom.store.models import MAX_ROW_ID, AuditEvent, ThresholdVersion
from postroom.taxonomy import Taxonomy, TaxonomyError
from router.confidence import ConfidenceModel
from router.errors import (
    DamagedThresholdVersion,
    NoThresholdChange,
    ThresholdError,
    ThresholdsChanged,
    ThresholdVersionNotFound,
    ZeroReplyThreshold,
)

Values = dict[str, dict[str, float | None]]
CHANGE_EVENT = "thresholds.changed"  # the audit event of every new version
# What a version was calibrated for, carried over to manual changes of it; `confidence_model` is what the
# reply set's thresholds compare against (router.confidence; None: the probability).
PROMISE_KEYS = ("target_precision", "confidence", "guarantee", "confidence_model")


@dataclass(frozen=True)
class Change:
    """One class's threshold before and after a version."""

    label_set: str
    class_name: str
    old: float | None
    new: float | None


def default_values(taxonomy: Taxonomy) -> Values:
    """Before any calibration: no automated replies, and every queue prediction is trusted."""
    reply_set = taxonomy.routing.reply_set
    values: Values = {}
    for label_set in taxonomy.label_sets:
        values[label_set.name] = {
            c.name: (None if label_set.name == reply_set else 0.0) for c in label_set.classes
        }
    return values


@dataclass(frozen=True)
class ActiveThresholds:
    """What routing reads of one version: its number (None: the defaults), its values with defaults filled
    in, and the learned confidence its reply-set thresholds compare against (None: the probability)."""

    version: int | None
    values: Values
    confidence: ConfidenceModel | None
    created_at: datetime | None = None
    model_version: str | None = None  # the model the version was calibrated for (None: not known)

    def replies_paused(self, served_model: str | None) -> str | None:
        """`replies_paused` for these thresholds and the model serving."""
        return replies_paused(self.version, self.model_version, served_model)


def replies_paused(version: int | None, calibrated_for: str | None, served_model: str | None) -> str | None:
    """Why automated replies must wait, when thresholds version `version` were calibrated for another model
    than the one serving: a threshold certifies a precision for one model's scores, not for a successor's.
    None when they match, or when either is not known (thresholds set by hand before any calibration).

    The reason goes on every decision the router client reads, so it names the versions only; what a lead
    does about it is `how_to_resume_replies`."""
    if calibrated_for is None or served_model is None or calibrated_for == served_model:
        return None
    return (
        f"automated replies paused: thresholds version {version} were calibrated for model {calibrated_for}, "
        f"the service runs {served_model}"
    )


def how_to_resume_replies(served_model: str) -> str:
    """What a lead does to end `replies_paused` (the lead page, the service's log)."""
    return (
        f"apply thresholds calibrated for {served_model}: postroom calibrate --model {served_model}, then "
        f"postroom thresholds suggest --model-version {served_model} --apply (or the lead page's apply "
        "button), or roll back to a thresholds version calibrated for it"
    )


@dataclass(frozen=True)
class Unparsed:
    """A JSON column whose stored text is not JSON (SQLite keeps whatever text a hand edit wrote)."""

    text: str


def _parsed(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return Unparsed(raw)


def read_versions(session: Session, query: Select[tuple[ThresholdVersion]]) -> list[ThresholdVersion]:
    """The versions `query` selects. A JSON column whose text does not parse does not fail the read: that
    version holds an `Unparsed` in its place (not written back), which `damage` names."""
    try:
        return list(session.scalars(query))
    except ValueError:  # json.JSONDecodeError while loading a row
        pass
    lazy = query.options(defer(ThresholdVersion.values), defer(ThresholdVersion.details))
    versions = list(session.scalars(lazy.execution_options(populate_existing=True)))
    raw = select(
        ThresholdVersion.id, cast(ThresholdVersion.values, Text), cast(ThresholdVersion.details, Text)
    ).where(ThresholdVersion.id.in_([v.id for v in versions]))
    texts = {row[0]: (row[1], row[2]) for row in session.execute(raw)}
    for version in versions:
        values, details = texts[version.id]
        set_committed_value(version, "values", _parsed(values))
        set_committed_value(version, "details", _parsed(details))
    return versions


def stored_values(session: Session) -> list[tuple[int, Any]]:
    """Every version's number and stored values, oldest first (an `Unparsed` where the JSON does not parse;
    `values_damage` says whether they can be read)."""
    query = select(ThresholdVersion.id, ThresholdVersion.values).order_by(ThresholdVersion.id)
    try:
        return [(row[0], row[1]) for row in session.execute(query)]
    except ValueError:  # json.JSONDecodeError while loading a row
        raw = select(ThresholdVersion.id, cast(ThresholdVersion.values, Text)).order_by(ThresholdVersion.id)
        return [(row[0], _parsed(row[1])) for row in session.execute(raw)]


def _kind(value: Any) -> str:
    if isinstance(value, Unparsed):
        return f"not JSON ({shown(value.text, 40)})"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({shown(value, 40)})"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _is_threshold(value: Any) -> bool:
    """None, or a finite number in [0, 1] (not a boolean)."""
    if value is None:
        return True
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value) and 0.0 <= value <= 1.0


def values_damage(values: Any) -> str | None:
    """Why stored values cannot be read (None: they can): they must be an object of label sets, each an
    object of classes, each a threshold in [0, 1] or null."""
    if not isinstance(values, dict):
        return f"its values are {_kind(values)}, not an object of label sets"
    for set_name, per_class in values.items():
        if not isinstance(per_class, dict):
            return f"its values of {set_name} are {_kind(per_class)}, not an object of classes"
        for class_name, value in per_class.items():
            if not _is_threshold(value):
                return f"its {set_name}.{class_name} is {_kind(value)}, not a number in [0, 1] or null"
    return None


CHANGE_KEYS = ("label_set", "class_name", "old", "new")


def damage(version: ThresholdVersion) -> str | None:
    """Why a stored version cannot be read (None: it can), as only a row changed outside Postroom has:
    values that are not `values_damage`-free, details that are not an object, or recorded changes that are
    not a list of changes (`label_set`, `class_name`, `old`, `new`)."""
    if (problem := values_damage(version.values)) is not None:
        return problem
    details = version.details
    if details is None:
        return None
    if not isinstance(details, dict):
        return f"its details are {_kind(details)}, not an object"
    changes = details.get("changes", [])
    intact = isinstance(changes, list) and all(
        isinstance(c, dict)
        and all(k in c for k in CHANGE_KEYS)
        and isinstance(c["label_set"], str)
        and isinstance(c["class_name"], str)
        and _is_threshold(c["old"])
        and _is_threshold(c["new"])
        for c in changes
    )
    return None if intact else "its recorded changes are not a list of changes from one threshold to another"


def damaged_error(version: ThresholdVersion, problem: str) -> DamagedThresholdVersion:
    """The error for the active version when it cannot be read: what is wrong, and the way out."""
    return DamagedThresholdVersion(
        f"thresholds version {version.id} is damaged: {problem} (its row was changed outside Postroom); "
        "nothing was changed: roll back to an intact version (`postroom thresholds rollback VERSION` or "
        "POST /v1/thresholds/rollback) to make its values active, or repair the row"
    )


def details_of(version: ThresholdVersion | None) -> dict[str, Any]:
    """The version's details, or {} where there are none (or they are damaged: `damage` says so)."""
    details = version.details if version is not None else None
    return details if isinstance(details, dict) else {}


def active_version(session: Session) -> ThresholdVersion | None:
    """The newest version, as stored (`damage` says whether it can be read)."""
    query = select(ThresholdVersion).order_by(ThresholdVersion.id.desc()).limit(1)
    return next(iter(read_versions(session, query)), None)


VersionKey = tuple[int, datetime]  # a version's number and creation time: what says it changed


def active_version_key(session: Session) -> VersionKey | None:
    """The active version's number and creation time, without its values (a cheap check for a change)."""
    return version_key(*session.execute(select(*active_version_key_columns())).one())


def active_version_key_columns() -> tuple[ScalarSelect[int], ScalarSelect[datetime]]:
    """`active_version_key` as two scalar subqueries, to read it in the statement that reads something else
    (one round trip to the store less); `version_key` makes the key of the two values read."""
    newest = select().order_by(ThresholdVersion.id.desc()).limit(1)
    return (
        newest.add_columns(ThresholdVersion.id).scalar_subquery(),
        newest.add_columns(ThresholdVersion.created_at).scalar_subquery(),
    )


def version_key(number: int | None, created_at: datetime | None) -> VersionKey | None:
    """The key read by `active_version_key_columns` (None: no version stored yet)."""
    return None if number is None or created_at is None else (number, created_at)


def _filled(version: ThresholdVersion | None, taxonomy: Taxonomy) -> Values:
    """The version's values, filled with defaults for classes it does not name.

    Raises:
        DamagedThresholdVersion: the version cannot be read (`damage`).
    """
    if version is not None and (problem := damage(version)) is not None:
        raise damaged_error(version, problem)
    values = default_values(taxonomy)
    for set_name, per_class in (version.values if version is not None else {}).items():
        if set_name in values:
            values[set_name].update({k: v for k, v in per_class.items() if k in values[set_name]})
    return values


def _confidence(version: ThresholdVersion | None, taxonomy: Taxonomy) -> ConfidenceModel | None:
    data = details_of(version).get("confidence_model")
    reply_set = taxonomy.routing.reply_set
    if version is None or not isinstance(data, dict) or data.get("label_set") != reply_set:
        return None
    try:
        return ConfidenceModel.from_dict(data, taxonomy.label_set(reply_set).class_names)
    except (KeyError, TypeError, ValueError) as exc:
        raise ThresholdError(
            f"threshold version {version.id} holds an unreadable confidence model: {exc}"
        ) from None


def active_values(session: Session, taxonomy: Taxonomy) -> tuple[int | None, Values]:
    """The active version number and its values, filled with defaults for classes it does not name.

    Raises:
        DamagedThresholdVersion: the active version cannot be read (`damage`).
    """
    version = active_version(session)
    return (None if version is None else version.id), _filled(version, taxonomy)


def active_confidence_model(session: Session, taxonomy: Taxonomy) -> ConfidenceModel | None:
    """The learned confidence the active reply-set thresholds compare against; None: the probability."""
    return _confidence(active_version(session), taxonomy)


def active_thresholds(session: Session, taxonomy: Taxonomy) -> ActiveThresholds:
    """The active version's values and learned confidence, read once.

    Raises:
        DamagedThresholdVersion: the version cannot be read (`damage`).
        ThresholdError: the version's confidence model is unreadable.
    """
    version = active_version(session)
    if version is None:
        return ActiveThresholds(None, _filled(None, taxonomy), None)
    return ActiveThresholds(
        version.id,
        _filled(version, taxonomy),
        _confidence(version, taxonomy),
        version.created_at,
        version.model_version,
    )


def _is_zero(literal: str) -> bool:
    try:
        return Decimal(literal.strip()) == 0
    except InvalidOperation:
        return False


def parse_threshold(literal: str, where: str) -> float:
    """A threshold as written (`0.93`, `1e-3`), refused when the float would not be what was written.

    A tiny value a float still holds (`1e-320`) passes: the lead page shows it exactly.

    Raises:
        ThresholdError: not a number; not finite (`nan`, `inf`, or too large: `1e999`); or a non-zero
            number so small that it would become 0.0 (`1e-400`), naming `where`.
    """
    try:
        value = float(literal)
    except ValueError:
        raise ThresholdError(f"{where}: {literal!r} is not a number") from None
    if not math.isfinite(value):
        raise ThresholdError(f"{where}: {literal!r} is not a finite number")
    if value == 0.0 and not _is_zero(literal):
        raise ThresholdError(
            f"{where}: {literal!r} is too small for a float: it would be stored as 0.0 (write 0 for zero)"
        )
    return value


def validate_values(values: Values, taxonomy: Taxonomy) -> None:
    """Every label set and class must exist; every threshold must be None or a finite number in [0, 1]."""
    for set_name, per_class in values.items():
        try:
            label_set = taxonomy.label_set(set_name)
            for class_name, value in per_class.items():
                label_set.get(class_name)
                if isinstance(value, float) and not math.isfinite(value):
                    raise ThresholdError(
                        f"threshold for {set_name}.{class_name} must be a finite number, got {value!r}"
                    )
                if value is not None and not (isinstance(value, int | float) and 0.0 <= float(value) <= 1.0):
                    raise ThresholdError(
                        f"threshold for {set_name}.{class_name} must be in [0, 1] or null, got {value!r}"
                    )
        except TaxonomyError as exc:
            raise ThresholdError(str(exc)) from None


def without_effect(taxonomy: Taxonomy, set_name: str, class_name: str, value: float | None) -> str | None:
    """Why a threshold of `value` on this class would decide nothing (None: it decides something, or it is
    the default, which a value stored before such thresholds were refused may be reset to).

    Only two label sets' thresholds are read (`router.decide`): the reply set's, and only for a class with an
    automated-reply template; and the queue set's (triage).
    """
    routing = taxonomy.routing
    if set_name == routing.queue_set or value == (None if set_name == routing.reply_set else 0.0):
        return None
    if set_name != routing.reply_set:
        return (
            f"a threshold on {set_name}.{class_name} has no effect: only {routing.reply_set} thresholds "
            f"(automated replies) and {routing.queue_set} thresholds (triage) decide anything"
        )
    if not taxonomy.label_set(set_name).get(class_name).auto_reply:
        return (
            f"a threshold on {set_name}.{class_name} has no effect: the class has no automated-reply "
            "template in the taxonomy (add one first)"
        )
    return None


def refuse_zero_replies(updates: Values, taxonomy: Taxonomy, switch_off: str, confirm: str) -> None:
    """Refuse 0 on an automated-reply class unless the caller confirmed it: 0 answers every message predicted
    as the class, however unsure the model is, while a lead who writes 0 usually means "off" (None).

    A class without a template is left to `refuse_without_effect`, an unknown one to `validate_values`.
    `switch_off` (`{name}`: `topic.card_replacement`) and `confirm` say how the caller's surface switches
    a reply off and confirms a 0, e.g. "`--off {name}`" and "add --allow-zero".

    Raises:
        ZeroReplyThreshold: the classes set to 0, how to switch them off, and how to confirm.
    """
    reply_set = taxonomy.routing.reply_set
    if reply_set not in updates:
        return
    templated = {c.name for c in taxonomy.label_set(reply_set).classes if c.auto_reply}
    zeros = [f"{reply_set}.{c}" for c, v in updates[reply_set].items() if v == 0.0 and c in templated]
    if zeros:
        raise ZeroReplyThreshold(
            f"{', '.join(zeros)}=0 would answer every message predicted as that class automatically, however "
            f"unsure the model is; {switch_off.format(name=zeros[0])} switches its automated reply off; "
            f"{confirm} if 0 is meant"
        )


def refuse_without_effect(updates: Values, current: Values, taxonomy: Taxonomy) -> None:
    """Refuse a change to a threshold that decides nothing (a value equal to the active one passes).

    Raises:
        ThresholdError: the first such change, with the reason.
    """
    for set_name, per_class in updates.items():
        for class_name, value in per_class.items():
            if value == current.get(set_name, {}).get(class_name):
                continue
            if (why := without_effect(taxonomy, set_name, class_name, value)) is not None:
                raise ThresholdError(why)


def diff(old: Values, new: Values) -> list[Change]:
    changes = []
    for set_name, per_class in new.items():
        for class_name, value in per_class.items():
            before = old.get(set_name, {}).get(class_name)
            if before != value:
                changes.append(Change(set_name, class_name, before, value))
    return changes


def with_updates(current: Values, updates: Values) -> Values:
    """A copy of `current` with `updates` applied (thresholds as floats; None stays None)."""
    new = {s: dict(v) for s, v in current.items()}
    for set_name, per_class in updates.items():
        new[set_name].update({k: (None if v is None else float(v)) for k, v in per_class.items()})
    return new


# Any constant: the key of PostgreSQL's transaction-scoped advisory lock on writing threshold versions.
THRESHOLDS_LOCK_KEY = 0x706F7374726F6F6D  # "postroom"


def lock_thresholds(session: Session) -> None:
    """Hold the store's lock on writing threshold versions until the session's transaction ends.

    A new version is computed from the active one, so two writers that read the same active version would
    each lose the other's change. PostgreSQL: a transaction-scoped advisory lock. SQLite: a write statement
    that changes nothing, which takes the database's write lock (SQLite has one writer at a time); the
    busy timeout makes the second writer wait for the first to commit.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": THRESHOLDS_LOCK_KEY})
    else:
        session.execute(text("UPDATE threshold_versions SET id = id WHERE id IS NULL"))


def set_thresholds(
    session: Session,
    taxonomy: Taxonomy,
    updates: Values,
    actor: str,
    reason: str,
    *,
    model_version: str | None = None,
    details: dict[str, Any] | None = None,
    base_version: int | None = None,
    over_damaged: bool = False,
    exact_model: bool = False,
) -> ThresholdVersion:
    """Write a new version: the active values with `updates` applied. Not committed.

    Writers take turns (`lock_thresholds`): a change made at the same time as another is applied on top
    of it. With `base_version` (the version the caller read; 0: none yet), it is refused instead if that
    is no longer the active version. With `over_damaged` (a rollback), an active version that cannot be
    read (`damage`) counts as the defaults, so that intact values can replace it; it stays in the history.
    `model_version` is the model the values were calibrated for; without it the active version's is kept
    (a manual change of calibrated values), unless `exact_model` (a rollback: the target's, None included).
    Values equal to the active ones are a change when they are now calibrated for another model: that is
    what lets a successor's equal suggestion end `replies_paused`.

    Raises:
        ThresholdsChanged: `base_version` is not the active version.
        DamagedThresholdVersion: the active version cannot be read, and not `over_damaged`.
        ThresholdError: no reason or actor, unknown label set or class, value out of range, a changed
            threshold that decides nothing (`without_effect`), no change.
    """
    if not reason.strip():
        raise ThresholdError("a reason is required for every threshold change")
    if not actor.strip():
        raise ThresholdError("the actor (who makes the change) is required")
    validate_values(updates, taxonomy)
    updates = {  # -0.0 is 0.0 (JSON and the CLI can write it; the history would show "-0.0")
        set_name: {c: (v + 0.0 if v is not None else None) for c, v in per_class.items()}
        for set_name, per_class in updates.items()
    }
    lock_thresholds(session)
    parent = active_version(session)
    parent_id = None if parent is None else parent.id
    if base_version is not None and (parent_id or 0) != base_version:
        active = f"version {parent_id} is active" if parent_id else "no version is active yet (the defaults)"
        raise ThresholdsChanged(
            f"the thresholds changed since you read them: {active}, not {base_version}; reload and apply "
            "again"
        )
    damaged = parent is not None and damage(parent) is not None
    current = default_values(taxonomy) if damaged and over_damaged else _filled(parent, taxonomy)
    refuse_without_effect(updates, current, taxonomy)
    new = with_updates(current, updates)
    changes = diff(current, new)
    inherited_model = parent.model_version if parent else None
    calibrated_for = model_version if exact_model else (model_version or inherited_model)
    if not changes and calibrated_for == inherited_model:
        raise NoThresholdChange("no threshold changes: the values equal the active version")
    # The promise a version was calibrated for carries over to manual changes of it.
    inherited = {k: v for k, v in details_of(parent).items() if k in PROMISE_KEYS and not damaged}
    promise = _without_empty_promise({**inherited, **(details or {})})
    if damaged:
        promise["over_damaged"] = parent_id
    version = ThresholdVersion(
        values=new,
        model_version=calibrated_for,
        created_by=actor,
        reason=reason,
        parent_id=parent_id,
        details={**promise, "changes": [c.__dict__ for c in changes]},
    )
    session.add(version)
    session.flush()
    session.add(  # `postroom audit` lists who changed thresholds beside the other changes of note
        AuditEvent(
            kind=CHANGE_EVENT,
            subject=f"thresholds v{version.id}",
            actor=actor,
            payload={
                "reason": reason,
                "changes": len(changes),
                "model_version": calibrated_for,
                **({"rollback_to": details["rollback_to"]} if details and "rollback_to" in details else {}),
            },
        )
    )
    return version


def promised(version: ThresholdVersion | None, key: str, default: float) -> float:
    """A number of the promise `version` was calibrated for (`target_precision`, `confidence`), else
    `default`; a `None` left by an older rollback counts as absent."""
    value = details_of(version).get(key)
    return default if not isinstance(value, int | float) or isinstance(value, bool) else float(value)


def _without_empty_promise(details: dict[str, Any]) -> dict[str, Any]:
    """`details` without promise keys set to None: a rollback to a version without a promise passes None to
    drop the current one, and readers take an absent key for the settings' default."""
    return {k: v for k, v in details.items() if not (k in PROMISE_KEYS and v is None)}


def history(session: Session, limit: int = 50) -> list[ThresholdVersion]:
    """Newest first, as stored: a damaged version is listed too (`damage` says why it cannot be read)."""
    return read_versions(session, select(ThresholdVersion).order_by(ThresholdVersion.id.desc()).limit(limit))




def get_version(session: Session, version_id: int) -> ThresholdVersion:
    """The version with that number.

    Raises:
        ThresholdVersionNotFound: none, including a number no store can hold (not looked up).
    """
    in_range = 1 <= version_id <= MAX_ROW_ID
    query = select(ThresholdVersion).where(ThresholdVersion.id == version_id)
    version = next(iter(read_versions(session, query)), None) if in_range else None
    if version is None:
        raise ThresholdVersionNotFound(f"no threshold version {version_id}")
    return version


def rollback(
    session: Session,
    taxonomy: Taxonomy,
    to_version: int,
    actor: str,
    reason: str,
    base_version: int | None = None,
) -> ThresholdVersion:
    """Make `to_version`'s values active again, as a new version that records the rollback (not committed;
    `base_version` as for `set_thresholds`). Values that decide nothing (`without_effect`: stored before
    such changes were refused, or before a class lost its template) are not restored. An active version that
    cannot be read is replaced (the way out of it); a target that cannot be read is refused.

    Raises:
        ThresholdVersionNotFound: no version `to_version`.
        ThresholdError: `to_version` cannot be read (`damage`), or as for `set_thresholds`.
    """
    target = get_version(session, to_version)
    if (problem := damage(target)) is not None:
        raise ThresholdError(
            f"thresholds version {to_version} is damaged: {problem} (its row was changed outside Postroom); "
            "roll back to another version"
        )
    current = default_values(taxonomy)  # which classes exist now; set_thresholds reads the active values
    known = {
        s: {
            k: v
            for k, v in per.items()
            if k in current.get(s, {}) and without_effect(taxonomy, s, k, v) is None
        }
        for s, per in target.values.items()
        if s in current
    }
    return set_thresholds(
        session,
        taxonomy,
        known,
        actor,
        reason,
        model_version=target.model_version,
        exact_model=True,
        # the target's promise, not the current one's: its values compare against its own score
        details={"rollback_to": to_version, **{k: details_of(target).get(k) for k in PROMISE_KEYS}},
        base_version=base_version,
        over_damaged=True,
    )
