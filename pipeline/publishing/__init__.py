"""Publishing: the BI snapshot (plan, incremental or full, block checks) and the guard against unexplained shrinks."""
