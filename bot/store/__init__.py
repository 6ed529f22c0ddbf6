"""Persistence: one SQL schema for SQLite (default) and PostgreSQL (several replicas)."""
