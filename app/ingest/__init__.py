"""Ingest: every way events come in (the events API, PATCH, demo; later platform webhooks and
import) ends in `service.ingest`, which records the events and applies them to their clients in
the caller's transaction."""
