"""The `matchq` command-line tool."""
