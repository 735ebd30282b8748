"""winback: per-client churn status, value tier and recovery plans, on every write."""
