"""What the tests share: real servers, clients and stand-ins, never tests.

No test module imports another test module; whatever two test modules need lives here, and
fixtures live in the conftest.py files (tests/README.md says which).
"""
