"""Studies over the zoo: measured claims with fixed seeds (stable vs plain residual networks)."""
