"""Data: training samples (facts §e), test-set readers and the synthetic generator; knows no model."""
