"""Shared pytest fixtures: paths to the shared data and the real services."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Return the shared data folder (SC_SHARED_DATA or ../shared/data from the repo root)."""
    return Path(os.environ.get("SC_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real photos and videos; skips the test when it is absent (a user's clone)."""
    path = shared_data_dir()
    if not (path / "manifest.csv").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"shared data folder {path} is missing in CI (set SC_SHARED_DATA)")
        pytest.skip(f"shared data folder {path} is absent (set SC_SHARED_DATA to run this test)")
    return path
