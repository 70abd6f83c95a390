"""Optimizer passes over the circuit IR."""
