"""Measuring one configuration: timing, energy window, memory, FLOPs, accuracy, fingerprint."""
