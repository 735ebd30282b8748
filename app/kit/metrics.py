"""Prometheus metrics, served at GET /metrics.

Under `winback serve --workers N` every process keeps its values in PROMETHEUS_MULTIPROC_DIR and
/metrics adds them up (prometheus_client's multiprocess mode): counters and histograms are summed
over processes, and each gauge says how to combine its per-process values (`multiprocess_mode`,
ignored in a single process). "mostrecent" throughout: each of these gauges is one figure about
the whole deployment that some process sets from its latest reading, so the latest reading is
the answer; a sum would count it once per process, and a max would keep an old, larger figure.
"""

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter("winback_events_total", "Events received", ["type", "outcome"])
REQUESTS = Histogram(
    "winback_http_request_seconds",
    "HTTP request duration",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
EVENT_GROUPS = Histogram(
    "winback_event_group_size",
    "Single events (POST /v1/events) written together (app.ingest.groups), by how: `together` "
    "in one transaction, `one_by_one` after that transaction failed",
    ["written"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
SWEPT = Counter("winback_sweep_clients_total", "Clients re-evaluated by the sweeper")
STATUS_CHANGES = Counter("winback_status_changes_total", "Status changes recorded", ["to"])
# set by the worker (one process): the API processes never set it, and "mostrecent" ignores a
# value never set where "max" or "sum" would read their 0
DUE = Gauge(
    "winback_clients_due",
    "Clients that were due for review at the last sweep",
    multiprocess_mode="mostrecent",
)
FACTS_UPGRADED = Counter(
    "winback_facts_upgraded_total", "Clients whose facts the worker re-folded from their events"
)
OLD_FACTS = Gauge(
    "winback_clients_old_facts",
    "Clients whose stored facts are older than the current version, as of the last upgrade batch",
    multiprocess_mode="mostrecent",  # set by the worker, as DUE
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
    # the process answering the scrape sets it just before /metrics is read: the latest value is
    # this scrape's reading, not another process's from an earlier scrape
    multiprocess_mode="mostrecent",
)
WEBHOOK_BACKLOG_AGE = Gauge(
    "winback_webhook_backlog_age_seconds",
    "How long the oldest message of the backlog has been due (0 with no backlog)",
    multiprocess_mode="mostrecent",  # read at each scrape, as WEBHOOK_BACKLOG
)
WEBHOOK_RETRIES_SCHEDULED = Gauge(
    "winback_webhook_retries_scheduled",
    "Outgoing webhook deliveries waiting for a later attempt after a failure",
    multiprocess_mode="mostrecent",  # read at each scrape, as WEBHOOK_BACKLOG
)
