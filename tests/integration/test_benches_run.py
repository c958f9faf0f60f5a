"""Every service benchmark runs end to end at a tiny size and ends with its JSON line (speed is not judged here)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def run_bench(script: str, *args: str) -> dict:
    """Run bench/<script> and return the JSON object of its last stdout line."""
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / script), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_edge_outbox_bench_delivers_every_event():
    result = run_bench("edge_outbox.py", "--events", "300")
    assert result["received"] == result["events"] == 300
    assert result["store_per_s"] > 0 and result["drain_per_s"] > 0


def test_ingest_bench_loses_and_duplicates_nothing():
    result = run_bench("ingest.py", "--events", "500", "--databases", "sqlite,postgresql", "--workers", "1")
    assert {run["database"] for run in result["runs"]} == {"sqlite", "postgresql"}
    assert all(run["lost"] == 0 and run["duplicates"] == 0 for run in result["runs"]), result["runs"]
    assert result["raw_msgs_per_s"] > 0 and "target_met" in result


def test_search_bench_answers_both_query_kinds():
    result = run_bench("search.py", "--rows", "20000", "--queries", "5")
    assert result["rows"] == 20000
    assert result["time_range_gate"]["queries"] == result["time_range_plate"]["queries"] == 5
    assert any("ix_events_gate_ts" in line for line in result["gate_plan"]), "the gate query uses its index"


def test_retention_bench_purges_every_expired_event():
    result = run_bench("retention.py", "--events", "20000", "--baseline-s", "2")
    assert result["purged"] == 20000 and result["expired_left"] == 0 and not result["errors"]
    assert result["ingest_rate_during_purge"] > 0


def test_plate_robustness_bench_reads_clean_rendered_plates():
    result = run_bench("plate_robustness.py", "--quick", "--plates", "1")
    assert result["frames"] == 12 and result["plates"] == 3
    # the quick grid holds only clean, large plates: all 12 were read when this test was written
    assert result["exact"] >= 10, result["failures_sample"]
    assert set(result["rate_by"]["colour"]) == {"blue", "yellow", "green"}
