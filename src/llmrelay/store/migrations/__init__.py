"""Alembic migrations of the store; `Store.upgrade` runs them (env.py, versions/)."""
