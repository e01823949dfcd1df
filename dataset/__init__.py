"""Data: synthetic generation, test-set readers and (later) training samples; knows no model."""
