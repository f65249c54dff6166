"""Who knows X: the expert ranker, its arithmetic, and people's profiles."""
