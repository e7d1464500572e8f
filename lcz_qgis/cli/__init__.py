"""The `lcz` command line."""
