"""FakeAccel: a made-up accelerator, registered with envkit through the `envkit.backends` entry point."""
