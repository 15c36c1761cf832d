"""One module per check category; each exposes CHECKS, in the order they run."""
