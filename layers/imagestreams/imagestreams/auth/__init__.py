"""API tokens: their hashes, grants and the authorizer's policy (pure)."""
