"""The embedded default: a whole competition on one machine (`run`), and its report (`report`)."""
