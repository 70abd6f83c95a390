"""Static analyses on the compiled circuit, read-only: provenance of every value, the
flows of the disclosure report, leakage warnings and data owners' policies."""
