"""English column names (the French words stay in what people type and read), and two
columns nothing used any more dropped.

Revision ID: 0008_english_names
Revises: 0007_network
"""

import sqlalchemy as sa
from alembic import op

revision = '0008_english_names'
down_revision = '0007_network'
branch_labels = None
depends_on = None

# In place, never "copy to a new table and drop the old one" (Alembic's batch default on
# SQLite): rencontre and seance are referenced by other tables' foreign keys, which the
# bot's SQLite enforces (PRAGMA foreign_keys=ON, not switchable inside the migration's
# transaction), so dropping the old table would fail as soon as it has rows. SQLite
# renames (3.25) and drops (3.35) a column in place.
IN_PLACE = {'recreate': 'never'}
RENAMED = {
    'profile': {'fonction': 'role'},
    'rencontre': {'lieu': 'place', 'lien': 'link', 'objectif': 'objective'},
}


def upgrade() -> None:
    for table, columns in RENAMED.items():
        with op.batch_alter_table(table, **IN_PLACE) as batch:
            for old, new in columns.items():
                batch.alter_column(old, new_column_name=new)
    with op.batch_alter_table('room', **IN_PLACE) as batch:
        batch.drop_column('encrypted_notice_sent')
    with op.batch_alter_table('seance', **IN_PLACE) as batch:
        batch.drop_column('meteo_prompt_txn')


def downgrade() -> None:
    with op.batch_alter_table('seance', **IN_PLACE) as batch:
        batch.add_column(sa.Column('meteo_prompt_txn', sa.String(), nullable=False,
                                   server_default=''))
    with op.batch_alter_table('room', **IN_PLACE) as batch:
        batch.add_column(sa.Column('encrypted_notice_sent', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    for table, columns in RENAMED.items():
        with op.batch_alter_table(table, **IN_PLACE) as batch:
            for old, new in columns.items():
                batch.alter_column(new, new_column_name=old)
