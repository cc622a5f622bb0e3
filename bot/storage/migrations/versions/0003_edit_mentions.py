"""Item versions keep their mentions and HTML, so an edited or restored action keeps its owner.

Revision ID: 0003_edit_mentions
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_edit_mentions"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Versions stored before this revision had neither: they read as before (no pills).
    with op.batch_alter_table("item_edit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mentions", sa.JSON(), nullable=False,
                                      server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column("formatted_body", sa.String(), nullable=False,
                                      server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("item_edit", schema=None) as batch_op:
        batch_op.drop_column("formatted_body")
        batch_op.drop_column("mentions")
