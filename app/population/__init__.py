"""Population figures: what winback learns from all clients together — tier cut points per
ranking and the median cycle of each market (and, later, fitted model parameters). One owner:
the worker refreshes them set-based (`service.refresh`), the policy snapshot reads them."""
