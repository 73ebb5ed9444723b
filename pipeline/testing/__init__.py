"""Synthetic data generators shared by the tests, the benchmarks and the bundled samples."""
