"""The DuckDB catalog schema. The catalog is an index: it can be deleted and rebuilt."""

from __future__ import annotations

SCHEMA_VERSION = 5

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
-- MLflow 3 logged models (models:/m-<id>), folded from the model_* log records.
CREATE TABLE IF NOT EXISTS logged_models (
    model_id VARCHAR PRIMARY KEY,
    experiment_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    source_run_id VARCHAR,
    artifact_location VARCHAR,
    model_type VARCHAR,
    status VARCHAR NOT NULL,
    status_message VARCHAR,
    creation_timestamp BIGINT,
    last_updated_timestamp BIGINT,
    deleted BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS logged_model_tags (
    model_id VARCHAR NOT NULL, key VARCHAR NOT NULL, value VARCHAR,
    PRIMARY KEY (model_id, key)
);
CREATE TABLE IF NOT EXISTS logged_model_params (
    model_id VARCHAR NOT NULL, key VARCHAR NOT NULL, value VARCHAR,
    PRIMARY KEY (model_id, key)
);
-- Points logged with model_id= (also in the run's own metric files).
CREATE TABLE IF NOT EXISTS logged_model_metrics (
    model_id VARCHAR NOT NULL, key VARCHAR NOT NULL, value DOUBLE, step BIGINT,
    timestamp BIGINT, run_id VARCHAR, dataset_name VARCHAR, dataset_digest VARCHAR,
    seq VARCHAR NOT NULL, PRIMARY KEY (model_id, seq)
);
-- A run's model outputs (MLflow's LoggedModelOutput): run metrics at that step link too.
CREATE TABLE IF NOT EXISTS run_model_outputs (
    run_id VARCHAR NOT NULL, model_id VARCHAR NOT NULL, step BIGINT NOT NULL,
    PRIMARY KEY (run_id, model_id)
);
-- Datasets (one per experiment, name and digest; the first logged wins) and the runs that
-- used them (MLflow's log_inputs): tags is a JSON list of [key, value], context the
-- mlflow.data.context tag; t and seq order a run's inputs as they were logged.
CREATE TABLE IF NOT EXISTS datasets (
    experiment_id VARCHAR NOT NULL, name VARCHAR NOT NULL, digest VARCHAR NOT NULL,
    source_type VARCHAR, source VARCHAR, schema VARCHAR, profile VARCHAR,
    PRIMARY KEY (experiment_id, name, digest)
);
CREATE TABLE IF NOT EXISTS run_inputs (
    run_id VARCHAR NOT NULL, experiment_id VARCHAR NOT NULL, name VARCHAR NOT NULL,
    digest VARCHAR NOT NULL, tags VARCHAR, context VARCHAR, t BIGINT, seq BIGINT,
    PRIMARY KEY (run_id, name, digest)
);
CREATE TABLE IF NOT EXISTS run_model_inputs (
    run_id VARCHAR NOT NULL, model_id VARCHAR NOT NULL, PRIMARY KEY (run_id, model_id)
);
CREATE TABLE IF NOT EXISTS log_offsets (
    writer_id VARCHAR PRIMARY KEY, byte_offset BIGINT NOT NULL
);
"""
