"""Encoders: the base class, built-in models, checkpoint loading and official weight files."""
