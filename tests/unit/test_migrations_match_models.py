"""The Alembic chain has one head and builds exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import server.storage.models  # noqa: F401 - registers every table
from server.storage.base import Base
from server.storage.db import alembic_config, make_engine, migrate


def test_one_head(tmp_path):
    heads = ScriptDirectory.from_config(alembic_config(make_engine(f"sqlite:///{tmp_path}/h.db"))).get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}"


def test_migrated_schema_equals_the_models(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/m.db")
    migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == [], f"models and migrations differ: {differences}"
