"""What the service remembers, on PostgreSQL: the operator's cluster, or one embedded in the
service's data directory for a trial. Storage knows nothing of planning (import-linter)."""
