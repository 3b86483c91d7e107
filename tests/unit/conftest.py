"""Unit-test fixtures live in tests/conftest.py (``store``/``tb_store``, ``client``)."""
