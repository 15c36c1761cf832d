"""One module per CLI command; each is thin over the pure core."""
