"""Several agent definitions served by one process: the folder of definitions
(:mod:`.folder`), their runtimes built on demand (:mod:`.runtimes`) and their edit history
(:mod:`.history`)."""
