"""Benchmark evaluation: DAVIS interactive (scribbles / CiVOS clicks with the real davisinteractive session) and
semi-supervised DAVIS / YouTubeVOS. The top-level eval_*.py scripts are thin wrappers over these modules."""
