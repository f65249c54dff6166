"""What users write while the service runs (tokens, rate buckets, run reports), on SQLite or PostgreSQL."""
