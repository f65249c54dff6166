"""The `stackexchange` source: a data dump folder."""
