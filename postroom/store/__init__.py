"""The message store: tables, engines, sessions and migrations."""

from postroom.store.db import (
    StoreError,
    check_integrity,
    check_store,
    create_store_engine,
    get_engine,
    migrate,
    session_factory,
    session_scope,
)
from postroom.store.models import (
    AuditEvent,
    Base,
    Feedback,
    Label,
    Message,
    Prediction,
    RoutingDecision,
    ThresholdVersion,
)

__all__ = [
    "AuditEvent",
    "Base",
    "Feedback",
    "Label",
    "Message",
    "Prediction",
    "RoutingDecision",
    "StoreError",
    "ThresholdVersion",
    "check_integrity",
    "check_store",
    "create_store_engine",
    "get_engine",
    "migrate",
    "session_factory",
    "session_scope",
]
