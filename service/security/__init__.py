"""Who is calling and what they may do: auth, API tokens, request limits."""
