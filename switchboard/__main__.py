"""`python -m switchboard ...`: the operator command line (see switchboard.cli)."""

from switchboard.cli import main

if __name__ == "__main__":
    main()
