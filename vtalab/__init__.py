"""vtalab: a deterministic discrete-event lab of VMware vSphere Trust Authority."""

__version__ = "0.1.0"
