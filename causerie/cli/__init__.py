"""The ``causerie`` command line. Commands import heavy modules inside their bodies."""
