"""Turn metrics: the per-session collector and turn assembler, queries, Prometheus, the live
feed and exports. The records themselves and their observers are the store's
(:mod:`causerie.store.records`, :mod:`causerie.store.observers`). Imports nothing heavy."""
