"""lcz:loadpatches: So2Sat patches as georeferenced GeoTIFFs and styled outlines."""

from __future__ import annotations

import os

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingOutputMultipleLayers,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
)

from ..lcz_qgis.errors import LczError
from ..lcz_qgis.patches import MAX_PATCHES, load_patches
from .base import DATA, LczAlgorithm, style_output_on_load

SENSORS = ["sen2", "sen1"]
MAX_LOADED_FILES = 50  # per-patch files added to the project at most


class LoadPatchesAlgorithm(LczAlgorithm):
    NAME = "loadpatches"
    DISPLAY_NAME = "Load So2Sat patches as layers"
    GROUP = DATA
    HELP = (
        "Writes So2Sat LCZ42 patches (32 x 32 pixels, 10 m) as georeferenced GeoTIFFs, so "
        "they can be viewed, measured and compared with a basemap, plus a GeoPackage of patch "
        "outlines coloured by LCZ class and labelled '#index LCZ x'.<br>"
        "<b>Selection</b>: <i>Patch indices</i> (0-based, ranges inclusive: '0-9,15,20-25'), "
        "or <i>Patches per class</i> N (N random patches of every LCZ class, reproducible with "
        "the seed; a class with fewer patches gives all it has, with a warning), or every "
        f"patch when both are empty; at most {MAX_PATCHES} patches per run.<br>"
        "<b>Geolocation file</b> (optional): the matching So2Sat *_geo.h5 (2025 layout with "
        "coord/epsg/tfw or 2026 layout with epsg/tfw/city; same number of rows as the image "
        "file). Each patch then lands at its true place in its UTM zone: one GeoTIFF mosaic "
        "per UTM zone and city (nodata between patches), or one file per patch. Rows with an "
        "impossible transform (not 10 m, outside the zone) are skipped and reported.<br>"
        "Without it, the patches are laid out on a grid with 80 m gaps in EPSG:3857 near "
        "0 N 0 E ('Null Island', where map units are true metres); with Patches per class "
        "each grid row is one class. These positions are NOT real places.<br>"
        "<b>Outlines</b>: one polygon per patch (patch_index, lcz, lcz_letter, lcz_name, city, "
        "epsg, ul_x, ul_y, raster). When the patches span several UTM zones the layer is in "
        "EPSG:4326 with densified, exact outlines; ul_x/ul_y/epsg keep the exact corner.<br>"
        "Only the selected patches are read, so this is fast even on the 52 GB training.h5."
    )

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(
            QgsProcessingParameterFile(
                "INPUT", "So2Sat HDF5 file", fileFilter="HDF5 files (*.h5 *.hdf5 *.he5)"
            )
        )
        self.addParameter(
            QgsProcessingParameterFile(
                "GEO",
                "Geolocation file (*_geo.h5)",
                optional=True,
                fileFilter="HDF5 files (*.h5 *.hdf5 *.he5)",
            )
        )
        p = QgsProcessingParameterEnum("SENSOR", "Sensor", options=SENSORS, defaultValue="sen2")
        p.setUsesStaticStrings(True)
        self.addParameter(p)
        self.addParameter(
            QgsProcessingParameterString(
                "INDICES", "Patch indices (e.g. 0-9,15,20-25)", optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "PER_CLASS",
                "Patches per class (0 = off)",
                QgsProcessingParameterNumber.Integer,
                0,
                minValue=0,
                maxValue=MAX_PATCHES // 17,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "SEED", "Random seed", QgsProcessingParameterNumber.Integer, 0, minValue=0
            )
        )
        self.addParameter(
            QgsProcessingParameterBoolean(
                "PER_PATCH_FILES", "One GeoTIFF per patch (instead of mosaics)", False
            )
        )
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT_FOLDER", "Output folder"))
        self.addParameter(
            QgsProcessingParameterVectorDestination(
                "OUTPUT_PATCHES",
                "Patch outlines (GeoPackage)",
                QgsProcessing.TypeVectorPolygon,
                optional=True,
                createByDefault=True,
            )
        )
        self.addOutput(QgsProcessingOutputMultipleLayers("RASTERS", "Patch rasters"))
        self.addOutput(QgsProcessingOutputNumber("N_PATCHES", "Patches written"))
        self.addOutput(QgsProcessingOutputNumber("N_SKIPPED", "Patches skipped (bad geolocation)"))

    def execute(self, parameters, context, feedback):
        folder = self.parameterAsString(parameters, "OUTPUT_FOLDER", context)
        outlines = self.parameterAsOutputLayer(parameters, "OUTPUT_PATCHES", context) or None
        if outlines and not outlines.lower().endswith(".gpkg"):
            raise LczError(
                f"Patch outlines are written as a GeoPackage: choose a .gpkg file, not '{outlines}'"
            )
        # (load_patches creates the folder itself, only once every input and output
        # path has been checked, and removes it again when the run fails)
        geo = self.parameterAsFile(parameters, "GEO", context) or None
        r = load_patches(
            self.parameterAsFile(parameters, "INPUT", context),
            folder,
            geo=geo,
            sensor=self.parameterAsEnumString(parameters, "SENSOR", context),
            indices=self.parameterAsString(parameters, "INDICES", context) or None,
            per_class=self.parameterAsInt(parameters, "PER_CLASS", context),
            seed=self.parameterAsInt(parameters, "SEED", context),
            output_patches=outlines,
            per_patch_files=self.parameterAsBool(parameters, "PER_PATCH_FILES", context),
            feedback=feedback,
        )
        feedback.info(
            f"{r.n_placed} patches in {len(r.rasters)} GeoTIFF(s) ({r.layout} layout, "
            + ", ".join(f"EPSG:{e}" for e in r.crs)
            + f"); {len(r.skipped)} skipped; read {r.bytes_read / 1e6:.1f} MB of a "
            f"{r.file_size / 1e6:.0f} MB file in {r.seconds:.1f} s"
        )
        rasters = [str(p) for p in r.rasters]
        if len(rasters) <= MAX_LOADED_FILES:
            for path in rasters:
                name = os.path.splitext(os.path.basename(path))[0]
                context.addLayerToLoadOnCompletion(
                    path, QgsProcessingContext.LayerDetails(name, context.project(), "RASTERS")
                )
                style_output_on_load(context, path, os.path.splitext(path)[0] + ".qml")
        else:
            feedback.info(
                f"{len(rasters)} files are too many to add to the project; open them from "
                f"{folder} (each has a .qml style)"
            )
        out = {
            "OUTPUT_FOLDER": folder,
            "RASTERS": rasters,
            "N_PATCHES": r.n_placed,
            "N_SKIPPED": len(r.skipped),
        }
        if outlines:
            style_output_on_load(context, outlines, os.path.splitext(outlines)[0] + ".qml")
            out["OUTPUT_PATCHES"] = outlines
        return out
