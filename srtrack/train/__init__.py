"""The training loop behind `python -m srtrack.tune`: distributed set-up, optimizer and schedule,
data sharding, checkpoints and resume, preemption, logging."""
