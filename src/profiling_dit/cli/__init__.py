"""The `pdit` command line: parse, show progress and tables, call the library. Nothing else."""
