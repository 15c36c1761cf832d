"""`envkit doctor`: probe the target env once, run small checks over the facts, then a real smoke."""
