"""Platform webhooks (Shopify, WooCommerce) turned into winback events.

Per platform a pure `to_events(topic, payload, headers, known)` (no I/O), a signature check
(`signatures`), and one thin endpoint (`endpoints`) that hands the envelopes to the one write
path, `app.ingest.service.ingest`. A platform never gets its own write path.
"""
