"""Command groups of the `flock-subnet` CLI; each module exposes `register(subparsers)`."""
