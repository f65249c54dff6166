"""Vectors: the embedder and the FAISS snapshots with their atomic swap."""
