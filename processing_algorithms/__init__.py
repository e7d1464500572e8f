"""QGIS Processing provider and algorithms: thin wrappers over the lcz_qgis core."""
