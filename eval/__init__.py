import service  # noqa: F401  (applies the offline environment before torch or faiss load)
