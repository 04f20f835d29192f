"""The vendor "qapi" REST door (seed 002)."""
