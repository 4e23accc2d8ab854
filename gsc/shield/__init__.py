"""gsc.shield: turn an image into a shielded one (plan, then emit); read shielded images
back (info, sign, verify)."""
