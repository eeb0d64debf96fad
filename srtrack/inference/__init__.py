"""Test-time tracking: the sequence tracker (`tracker`, torch) and its raw-result files (`results`,
numpy only: scoring result files needs no torch)."""
