"""`python -m envkit`: what a scheduler's script runs on the nodes (the interpreter that has envkit)."""

from envkit.cli import run_main

run_main()
