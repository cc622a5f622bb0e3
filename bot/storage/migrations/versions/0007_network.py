"""A network across time zones: room settings, action reminders, date polls, fiches.

Revision ID: 0007_network
Revises: 0006_set_aside
"""

import sqlalchemy as sa
from alembic import op

from bot.storage.models import UTCDateTime

revision = '0007_network'
down_revision = '0006_set_aside'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('room') as batch:
        batch.add_column(sa.Column('network_name', sa.String(), nullable=True))
        batch.add_column(sa.Column('action_reminder_days', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('action_reminder_minute', sa.Integer(), nullable=True))
    op.create_table('action_reminder_sent',
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('sent_at', UTCDateTime(), nullable=False),
    sa.Column('skipped', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['item.id']),
    sa.PrimaryKeyConstraint('item_id', 'due_date', 'kind')
    )
    op.create_table('poll',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.String(), nullable=False),
    sa.Column('question', sa.String(), nullable=False),
    sa.Column('timezone', sa.String(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('start_event_id', sa.String(), nullable=True),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('created_by', sa.String(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('closed_at', UTCDateTime(), nullable=True),
    sa.Column('rencontre_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_poll_room_id', 'poll', ['room_id'])
    op.create_index('ix_poll_start_event_id', 'poll', ['start_event_id'])
    op.create_table('poll_vote',
    sa.Column('event_id', sa.String(), nullable=False),
    sa.Column('poll_event_id', sa.String(), nullable=False),
    sa.Column('sender', sa.String(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('sent_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_index('ix_poll_vote_poll_event_id', 'poll_vote', ['poll_event_id'])
    op.create_table('fiche',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(), nullable=False),
    sa.Column('structure', sa.String(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('edited_by', sa.String(), nullable=False),
    sa.Column('edited_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_fiche_key', 'fiche', ['key'])


def downgrade() -> None:
    op.drop_index('ix_fiche_key', table_name='fiche')
    op.drop_table('fiche')
    op.drop_index('ix_poll_vote_poll_event_id', table_name='poll_vote')
    op.drop_table('poll_vote')
    op.drop_index('ix_poll_start_event_id', table_name='poll')
    op.drop_index('ix_poll_room_id', table_name='poll')
    op.drop_table('poll')
    op.drop_table('action_reminder_sent')
    with op.batch_alter_table('room') as batch:
        batch.drop_column('action_reminder_minute')
        batch.drop_column('action_reminder_days')
        batch.drop_column('network_name')

