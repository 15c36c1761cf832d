"""envkit: provision and verify LeRobot training environments."""

__version__ = "0.1.0"
