"""`envkit matrix check|propose`: compare compat.toml with what the index publishes.

index.py is the only module that talks HTTP (simple API pages, PEP 658 metadata files, range
reads of wheel zip directories); facts.py turns index answers into version facts; check.py
and propose.py are pure and compare or draft matrix rows.
"""
