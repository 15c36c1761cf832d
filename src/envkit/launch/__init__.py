"""`envkit launch`: one training run over all selected devices of a server (plan, preflight, run, explain)."""
