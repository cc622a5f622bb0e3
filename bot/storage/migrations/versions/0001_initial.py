"""Initial schema: rooms, processed events, outbox, profiles, direct rooms.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room",
        sa.Column("room_id", sa.String(), primary_key=True),
        sa.Column("joined_at", UTCDateTime(), nullable=False),
        sa.Column("encrypted_notice_sent", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("timezone", sa.String(), nullable=True),
    )
    op.create_table(
        "processed_event",
        sa.Column("event_id", sa.String(), primary_key=True),
        sa.Column("room_id", sa.String(), nullable=False, index=True),
        sa.Column("handled_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("room_id", sa.String(), nullable=False, index=True),
        sa.Column("txn_id", sa.String(), nullable=False, unique=True),
        sa.Column("event_type", sa.String(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("dm_user", sa.String(), nullable=True),
        sa.Column("file_data", sa.LargeBinary(), nullable=True),
        sa.Column("source_event_id", sa.String(), nullable=True, index=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("sent_event_id", sa.String(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(), nullable=True),
    )
    op.create_table(
        "profile",
        sa.Column("user_id", sa.String(), primary_key=True),
        sa.Column("full_name", sa.String(), nullable=False, server_default=""),
        sa.Column("fonction", sa.String(), nullable=False, server_default=""),
        sa.Column("structure", sa.String(), nullable=False, server_default=""),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "direct_room",
        sa.Column("user_id", sa.String(), primary_key=True),
        sa.Column("room_id", sa.String(), nullable=False),
    )


def downgrade() -> None:
    for table in ("direct_room", "profile", "outbox", "processed_event", "room"):
        op.drop_table(table)
