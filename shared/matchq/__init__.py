"""matchq: record matching of two tabular files as prioritised, cancellable, observable jobs."""

__version__ = "0.1.0"
