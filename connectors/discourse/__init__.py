"""The `discourse` source: a post-JSON archive or the live API."""
