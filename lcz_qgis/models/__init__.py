"""Model definitions, one module each."""
