"""How well winback predicts, on the seller's own history: backtests (`POST /v1/backtests`,
`winback backtest`), policy tuning (`POST /v1/policy/tune`), and the population model's
introspection and refit (`GET /v1/models/current`, `POST /v1/models/refit`)."""
