"""Encrypted events waiting for their room key (end-to-end encrypted rooms).

Revision ID: 0004_undecryptable
Revises: 0003_edit_mentions
"""

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision = '0004_undecryptable'
down_revision = '0003_edit_mentions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('undecryptable_event',
    sa.Column('event_id', sa.String(), nullable=False),
    sa.Column('room_id', sa.String(), nullable=False),
    sa.Column('sender', sa.String(), nullable=False),
    sa.Column('sent_at', UTCDateTime(), nullable=False),
    sa.Column('first_seen_at', UTCDateTime(), nullable=False),
    sa.Column('event', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_index('ix_undecryptable_event_room_id', 'undecryptable_event', ['room_id'])
    op.create_index('ix_undecryptable_event_sent_at', 'undecryptable_event', ['sent_at'])


def downgrade() -> None:
    op.drop_index('ix_undecryptable_event_sent_at', table_name='undecryptable_event')
    op.drop_index('ix_undecryptable_event_room_id', table_name='undecryptable_event')
    op.drop_table('undecryptable_event')
