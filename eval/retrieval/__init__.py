"""Retrieval evaluation on BEIR datasets, the levers and the plain-BM25 reference check."""
