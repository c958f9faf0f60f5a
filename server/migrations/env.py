"""Alembic environment: runs migrations on the engine the platform passes in (or SC_DATABASE_URL)."""

from __future__ import annotations

import os

from alembic import context

from server.storage.db import make_engine
from server.storage.models import Base

config = context.config
engine = config.attributes.get("engine") or make_engine(os.environ.get("SC_DATABASE_URL", "sqlite:///var/sc.db"))

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
