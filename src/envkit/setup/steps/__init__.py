"""One module per setup step: its build (the Step envkit.setup.plan lists), execute, verify and undo together;
each declares KINDS, the actions it executes (envkit.setup.registry gathers them)."""
