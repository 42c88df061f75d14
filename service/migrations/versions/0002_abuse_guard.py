"""abuse guard: mark plainly ineligible requests, index requests by seller and time

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("strike_requests") as batch:
        batch.add_column(sa.Column("plainly_ineligible", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_index("ix_strike_requests_seller_created", ["seller_id", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("strike_requests") as batch:
        batch.drop_index("ix_strike_requests_seller_created")
        batch.drop_column("plainly_ineligible")
