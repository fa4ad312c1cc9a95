"""one current label per message and label set

Concurrent writers of one message's labels (a retried feedback report racing the first) could leave
several current labels of one set on PostgreSQL. Writers now lock the message first
(`postroom.store.labels`); this revision repairs what earlier versions left (the newest label of each set
stays current, the older ones become history, as a replaced label does) and adds a partial unique index
that refuses a second current label from then on.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = sa.text("is_current")


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE labels SET is_current = :no WHERE is_current = :yes AND id < ("
            "SELECT MAX(newer.id) FROM labels AS newer WHERE newer.message_pk = labels.message_pk "
            "AND newer.label_set = labels.label_set AND newer.is_current = :yes)"
        ).bindparams(no=False, yes=True)
    )
    op.create_index(
        "ux_labels_one_current",
        "labels",
        ["message_pk", "label_set"],
        unique=True,
        sqlite_where=CURRENT,
        postgresql_where=CURRENT,
    )


def downgrade() -> None:
    op.drop_index("ux_labels_one_current", table_name="labels")
