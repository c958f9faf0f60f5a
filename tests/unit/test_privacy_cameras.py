"""Registering a camera's purpose: an unknown site is refused by name before the database's foreign key."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from server.privacy.purpose import register_camera
from server.storage.db import make_engine, migrate
from server.storage.privacy import CameraRegistration
from server.storage.registry import Site


@pytest.fixture()
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/sc.db")
    migrate(engine)
    with engine.begin() as connection:
        connection.execute(insert(Site).values(id="north", name="North Garden"))
    yield engine
    engine.dispose()


def test_unknown_site_is_refused_and_a_known_one_registered(engine):
    with engine.begin() as connection, pytest.raises(ValueError, match="site_id: unknown site 'south'"):
        register_camera(
            connection, "user:admin", site_id="south", device="cam-1", purpose="access_control", signage_posted=True
        )
    with engine.begin() as connection:
        camera_id = register_camera(
            connection, "user:admin", site_id="north", device="cam-1", purpose="public_security", signage_posted=True
        )
    with engine.connect() as connection:
        stored = connection.execute(select(CameraRegistration.site_id, CameraRegistration.purpose)).all()
    assert camera_id and stored == [("north", "public_security")]
