"""Embedded datasets that ship with medrobust (no download at run time)."""
