"""Prometheus metrics, served at GET /metrics."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter("winback_events_total", "Events received", ["type", "outcome"])
REQUESTS = Histogram(
    "winback_http_request_seconds",
    "HTTP request duration",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SWEPT = Counter("winback_sweep_clients_total", "Clients re-evaluated by the sweeper")
STATUS_CHANGES = Counter("winback_status_changes_total", "Status changes recorded", ["to"])
DUE = Gauge("winback_clients_due", "Clients that were due for review at the last sweep")
FACTS_UPGRADED = Counter(
    "winback_facts_upgraded_total", "Clients whose facts the worker re-folded from their events"
)
OLD_FACTS = Gauge(
    "winback_clients_old_facts",
    "Clients whose stored facts are older than the current version, as of the last upgrade batch",
)
WEBHOOK_ITEMS = Counter(
    "winback_integration_webhook_items_total",
    "Platform webhook items (events derived, items skipped, whole deliveries refused) by "
    "platform, topic (`other` for topics winback does not read) and outcome",
    ["platform", "topic", "outcome"],
)
WEBHOOK_ATTEMPTS = Counter(
    "winback_webhook_attempts_total",
    "Outgoing webhook attempts by outcome: delivered, http_error, gone (410), timeout, "
    "network_error, refused (not a public address), error (winback could not sign or send)",
    ["outcome"],
)
WEBHOOK_BACKLOG = Gauge(
    "winback_webhook_backlog",
    "Outgoing webhook messages due and not sent yet (deliveries due, events not dispatched), "
    "read from the database at each scrape",
)
WEBHOOK_BACKLOG_AGE = Gauge(
    "winback_webhook_backlog_age_seconds",
    "How long the oldest message of the backlog has been due (0 with no backlog)",
)
WEBHOOK_RETRIES_SCHEDULED = Gauge(
    "winback_webhook_retries_scheduled",
    "Outgoing webhook deliveries waiting for a later attempt after a failure",
)
