"""Data: training samples (docs/mivos.md), test-set readers and the synthetic generator; knows no model."""
