"""Helpers the connectors share (private): cursors, HTTP retries, HTML to text."""
