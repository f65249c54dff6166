"""Operations: metrics, background reindex jobs, index status."""
