"""Runs, experiments, the fluent API, Client and the search grammar."""
