"""Training datasets: static pseudo-videos, VOS clips, S2M interaction samples and fusion samples (facts §e)."""
