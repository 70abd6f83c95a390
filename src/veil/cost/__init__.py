"""Cost and disclosure report."""
