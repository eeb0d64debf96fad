"""Test-set tracking for `python -m srtrack.evaluate`: batches of sequences over worker processes."""
