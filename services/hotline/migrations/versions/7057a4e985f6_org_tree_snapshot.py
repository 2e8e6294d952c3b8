"""org tree snapshot: hotline's copy of dispatch's organisation tree, for unit names and address places

Revision ID: 7057a4e985f6
Revises: 1936ccf8840c
Create Date: 2026-12-02 20:22:13.456481
"""

import sqlalchemy as sa
from alembic import op

import sqlmodel  # noqa: F401 - autogenerate renders sqlmodel types

import shared.db  # noqa: F401 - and mcc column types

revision = '7057a4e985f6'
down_revision = '1936ccf8840c'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('org_tree_snapshot',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('unit_count', sa.Integer(), nullable=False),
    sa.Column('units', sa.JSON(), nullable=False),
    sa.Column('fetched_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('version')
    )


def downgrade() -> None:
    op.drop_table('org_tree_snapshot')
