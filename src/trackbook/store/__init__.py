"""The store: the only code that touches disk and DuckDB. It imports nothing above it."""
