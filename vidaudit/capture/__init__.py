"""Captures of real device traffic: redaction and the folder layout tests replay."""
