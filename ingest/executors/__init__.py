"""Where ingest embeds the passages the vector cache lacks: in this process, or on a Ray cluster."""
