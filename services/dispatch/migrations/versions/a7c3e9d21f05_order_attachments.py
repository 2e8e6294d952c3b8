"""order attachments: grid photos and closing evidence, content-addressed in the shared store

Revision ID: a7c3e9d21f05
Revises: 5d246614f98f
Create Date: 2026-12-02 14:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = 'a7c3e9d21f05'
down_revision = '5d246614f98f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('work_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attachments', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('work_order', schema=None) as batch_op:
        batch_op.drop_column('attachments')
