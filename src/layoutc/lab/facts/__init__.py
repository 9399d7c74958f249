"""Predicted versus observed: one fact per check, read from the guest's files."""
