"""Neural network modules of MiVOS: layers and math only (no I/O, no inference state)."""
