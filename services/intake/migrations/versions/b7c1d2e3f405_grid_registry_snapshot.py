"""grid registry snapshot: intake's projection of grid's registry, for locating in-process

Revision ID: b7c1d2e3f405
Revises: 34903d15245a
Create Date: 2026-12-02 08:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

import sqlmodel  # noqa: F401 - autogenerate renders sqlmodel types

import shared.db  # noqa: F401 - and mcc column types

revision = 'b7c1d2e3f405'
down_revision = '34903d15245a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('grid_registry_snapshot',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('grid_count', sa.Integer(), nullable=False),
    sa.Column('grids', sa.JSON(), nullable=False),
    sa.Column('fetched_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('version')
    )


def downgrade() -> None:
    op.drop_table('grid_registry_snapshot')
