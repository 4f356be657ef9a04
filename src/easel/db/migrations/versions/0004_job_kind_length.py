"""job kind holds operation names up to 64 characters (stable-image.upscale-conservative is 33)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("kind", type_=sa.String(length=64), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("kind", type_=sa.String(length=32), existing_nullable=False)
