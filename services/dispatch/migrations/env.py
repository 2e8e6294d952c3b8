from alembic import context

from services.dispatch.adapters.orm import metadata
from shared.migrations import run_env

run_env(context, metadata, "dispatch")
