"""Circuit IR: nodes, op semantics, lowering and the canonical serialization."""
