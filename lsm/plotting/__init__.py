"""Figures: piano rolls of any representation (piano_roll.py)."""
