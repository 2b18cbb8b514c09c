"""Helpers of the chaos run and the system benchmark (supervisor, receiver, generators, accounting)."""
