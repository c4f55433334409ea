"""Clinical text noises (being written)."""

NOISES: tuple = ()
