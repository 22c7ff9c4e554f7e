"""The CRM gateway's payloads: parsing, normalisation into tables, cache rules and the store.

Everything but `store` is pure (no I/O), so the rules that decide what is fetched, kept or
overwritten can be tested as plain functions; `store` applies them to a SQLAlchemy session.
"""
