"""Connectors: read one kind of source and map it to SourceDocument records."""
