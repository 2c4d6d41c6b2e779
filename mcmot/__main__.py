"""``python -m mcmot`` runs the command-line interface."""

from mcmot.cli import main

if __name__ == "__main__":
    main()
