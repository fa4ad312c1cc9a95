"""indexes for the feedback window, deleting decisions, and audit events by subject

`feedback.decision_pk`: deleting routing decisions (erasing messages) sets their feedback's `decision_pk` to
NULL, which without an index scans the feedback table once per decision (28 s for 20,000 messages on SQLite,
0.3 s with it). `feedback.created_at`: realized precision and outcomes read the rolling window.
`audit_events.subject`: the labeling records of a message (erasure, push, pull).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 10:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feedback_decision_pk"), ["decision_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_feedback_created_at"), ["created_at"], unique=False)
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_subject"), ["subject"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_subject"))
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_created_at"))
        batch_op.drop_index(batch_op.f("ix_feedback_decision_pk"))
