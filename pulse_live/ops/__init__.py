"""Operations: health and readiness checks, Prometheus metrics, JSON logs, backup / restore / check."""
