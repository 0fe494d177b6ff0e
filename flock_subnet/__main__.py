"""`python -m flock_subnet` runs the `flock-subnet` command."""

from flock_subnet.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
