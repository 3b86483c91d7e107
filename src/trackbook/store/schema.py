"""The DuckDB catalog schema. The catalog is an index: it can be deleted and rebuilt."""

from __future__ import annotations

SCHEMA_VERSION = 3

DDL = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS experiments (
    experiment_id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    artifact_location VARCHAR,
    lifecycle_stage VARCHAR NOT NULL DEFAULT 'active',
    creation_time BIGINT,
    last_update_time BIGINT
);
CREATE TABLE IF NOT EXISTS experiment_tags (
    experiment_id VARCHAR NOT NULL, key VARCHAR NOT NULL, value VARCHAR,
    PRIMARY KEY (experiment_id, key)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    experiment_id VARCHAR NOT NULL,
    run_name VARCHAR,
    status VARCHAR NOT NULL,
    start_time BIGINT,
    end_time BIGINT,
    lifecycle_stage VARCHAR NOT NULL DEFAULT 'active',
    user_id VARCHAR,
    parent_run_id VARCHAR,
    artifact_uri VARCHAR,
    writer_id VARCHAR,
    last_update BIGINT
);
CREATE TABLE IF NOT EXISTS params (
    run_id VARCHAR NOT NULL, key VARCHAR NOT NULL, value VARCHAR,
    PRIMARY KEY (run_id, key)
);
CREATE TABLE IF NOT EXISTS tags (
    run_id VARCHAR NOT NULL, key VARCHAR NOT NULL, value VARCHAR, ts BIGINT,
    PRIMARY KEY (run_id, key)
);
CREATE TABLE IF NOT EXISTS latest_metrics (
    run_id VARCHAR NOT NULL, key VARCHAR NOT NULL,
    value DOUBLE, step BIGINT, timestamp BIGINT,
    min DOUBLE, max DOUBLE, count BIGINT,
    PRIMARY KEY (run_id, key)
);
CREATE TABLE IF NOT EXISTS metric_files (
    run_id VARCHAR NOT NULL, file VARCHAR NOT NULL,
    PRIMARY KEY (run_id, file)
);
-- Writers whose runs still need checking against their files when found dead (settled:
-- said goodbye, or checked), the runs each one wrote, and chunk files taken into the
-- catalog from a folder because their writer died before their record.
CREATE TABLE IF NOT EXISTS writers (writer_id VARCHAR PRIMARY KEY, settled BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS writer_runs (
    writer_id VARCHAR NOT NULL, run_id VARCHAR NOT NULL, PRIMARY KEY (writer_id, run_id)
);
CREATE TABLE IF NOT EXISTS adopted_files (
    run_id VARCHAR NOT NULL, file VARCHAR NOT NULL, PRIMARY KEY (run_id, file)
);
CREATE TABLE IF NOT EXISTS purged_runs (run_id VARCHAR PRIMARY KEY);
CREATE TABLE IF NOT EXISTS log_offsets (
    writer_id VARCHAR PRIMARY KEY, byte_offset BIGINT NOT NULL
);
"""
