"""appeal cells: the duplicate check reads by (category, cell, time) and (caller, time)

Revision ID: b7c41d2e9f10
Revises: 686123a199fa
Create Date: 2026-12-02 08:40:00
"""

import math

import sqlalchemy as sa
from alembic import op

revision = 'b7c41d2e9f10'
down_revision = '686123a199fa'
branch_labels = None
depends_on = None

CELL_DEG = 0.01  # as services.hotline.domain.duplicates.CELL_DEG when this migration was written


def _cell(lon: float, lat: float) -> int:
    return (math.floor(lat / CELL_DEG) + 9_000) * 40_000 + (math.floor(lon / CELL_DEG) + 18_000)


def upgrade() -> None:
    with op.batch_alter_table('appeal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cell', sa.Integer(), nullable=True))
    # Appeals on file get their cell the way new ones do (in Python: SQLite may lack floor()).
    bind = op.get_bind()
    appeal = sa.table('appeal', sa.column('id', sa.String), sa.column('lon', sa.Float), sa.column('lat', sa.Float),
                      sa.column('cell', sa.Integer))
    rows = bind.execute(sa.select(appeal.c.id, appeal.c.lon, appeal.c.lat)
                        .where(appeal.c.lon.is_not(None), appeal.c.lat.is_not(None))).all()
    if rows:
        bind.execute(appeal.update().where(appeal.c.id == sa.bindparam('appeal_id'))
                     .values(cell=sa.bindparam('new_cell')),
                     [{'appeal_id': r.id, 'new_cell': _cell(r.lon, r.lat)} for r in rows])
    with op.batch_alter_table('appeal', schema=None) as batch_op:
        batch_op.drop_index('ix_appeal_category_created')
        batch_op.drop_index('ix_appeal_caller_phone')
        batch_op.create_index('ix_appeal_category_cell_created', ['category_code', 'cell', 'created_at'], unique=False)
        batch_op.create_index('ix_appeal_caller_created', ['caller_phone', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('appeal', schema=None) as batch_op:
        batch_op.drop_index('ix_appeal_caller_created')
        batch_op.drop_index('ix_appeal_category_cell_created')
        batch_op.create_index('ix_appeal_caller_phone', ['caller_phone'], unique=False)
        batch_op.create_index('ix_appeal_category_created', ['category_code', 'created_at'], unique=False)
        batch_op.drop_column('cell')
