"""Pipeline stages: one library function per ``mcmot`` subcommand."""
