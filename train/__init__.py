"""The shared training loop of the three MiVOS trainers (propagation, S2M, fusion) and its helpers."""
