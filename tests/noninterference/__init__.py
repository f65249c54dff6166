"""Non-interference across every endpoint: each caller's answers from the full store equal those from a
store holding only what that caller may see (issue 14)."""
