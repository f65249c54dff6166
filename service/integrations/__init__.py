"""WhoKnows in other frameworks' pipelines: retrievers that call a WhoKnows server's HTTP API with a token.

Clients only: they import neither the engine nor the index, so they run wherever the server can be
reached. Each framework is an optional extra (`whoknows[llamaindex]`, `whoknows[haystack]`).
"""
