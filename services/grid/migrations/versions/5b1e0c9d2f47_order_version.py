"""grid events keep the order id and version last applied, so a late older order event is skipped

Revision ID: 5b1e0c9d2f47
Revises: d6d336bb13e9
Create Date: 2026-12-02 08:30:00
"""

import sqlalchemy as sa
from alembic import op

import sqlmodel  # noqa: F401 - autogenerate renders sqlmodel types

revision = '5b1e0c9d2f47'
down_revision = 'd6d336bb13e9'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('grid_event') as batch:
        batch.add_column(sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch.add_column(sa.Column('order_version', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('grid_event') as batch:
        batch.drop_column('order_version')
        batch.drop_column('order_id')
