"""Use-case tests: every service path against in-memory fakes, in milliseconds.

The integration tests prove the adapters against real registries and moto;
these prove the business rules (``tests/support/fakes.py``).
"""
