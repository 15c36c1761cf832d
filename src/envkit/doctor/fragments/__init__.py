"""Backends' probe fragments: standard-library-only modules run inside the target interpreter.

Each holds `probe(torch) -> dict`; the doctor's probe copies the fragments of the installed
backends beside itself and files each result as torch[FACTS_KEY] (see envkit.doctor.accel).
"""
