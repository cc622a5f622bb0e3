"""Events set aside after failing deterministically (reported, never silently dropped).

Revision ID: 0006_set_aside
Revises: 0005_item_formatted
"""

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision = '0006_set_aside'
down_revision = '0005_item_formatted'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('set_aside_event',
    sa.Column('event_id', sa.String(), nullable=False),
    sa.Column('room_id', sa.String(), nullable=False),
    sa.Column('seance_id', sa.Integer(), nullable=True),
    sa.Column('sender', sa.String(), nullable=False),
    sa.Column('body', sa.String(), nullable=False),
    sa.Column('error', sa.String(), nullable=False),
    sa.Column('set_aside_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_index(op.f('ix_set_aside_event_room_id'), 'set_aside_event', ['room_id'], unique=False)
    op.create_index(op.f('ix_set_aside_event_seance_id'), 'set_aside_event', ['seance_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_set_aside_event_seance_id'), table_name='set_aside_event')
    op.drop_index(op.f('ix_set_aside_event_room_id'), table_name='set_aside_event')
    op.drop_table('set_aside_event')
