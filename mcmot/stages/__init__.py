"""Pipeline stages: one library function per subcommand (``run_<stage>``)."""
