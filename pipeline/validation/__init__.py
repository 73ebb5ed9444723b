"""Validation: every table's contract evaluated as SQL; failing rows moved, with one reason vocabulary."""
