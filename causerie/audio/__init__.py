"""Audio helpers shared by the CLI, the transports and the benchmarks."""
