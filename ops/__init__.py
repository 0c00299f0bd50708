"""Tools an operator runs against a deployed stack (see README, "Operating it")."""
