"""Cloud providers, each an optional extra imported only when built."""
