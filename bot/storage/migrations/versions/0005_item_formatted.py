"""Minutes: the PDF of each publication; the participants' formatting of captured items.

Revision ID: 0005_item_formatted
Revises: 0004_undecryptable
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_item_formatted"
down_revision = "0004_undecryptable"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Versions published before have no PDF: the archive renders it from their HTML.
    with op.batch_alter_table("publication") as batch:
        batch.add_column(sa.Column("pdf", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("item") as batch:
        batch.add_column(sa.Column("formatted", sa.String(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("item") as batch:
        batch.drop_column("formatted")
    with op.batch_alter_table("publication") as batch:
        batch.drop_column("pdf")
