"""envkit setup: the engine (engine.py: run the plan's steps in order, resume, log, own what it writes;
undo.py: give the prefix back) and one module per step under steps/ (its build, execute, verify and
undo together). envkit.setup.plan lists which steps apply; nothing here is imported by this package's
__init__, so the planner can import a step module without pulling the engine in."""
