"""The `confluence` source: an HTML space export or the REST API."""
