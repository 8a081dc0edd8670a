"""Training export: an output directory's samples as a data set stock trainers load as is."""

from engine.export.lengths import LengthReport
from engine.export.run import ExportReport, export
from engine.export.spec import ExportError, ExportSpec, export_spec, load_export_section

__all__ = [
    "ExportError",
    "ExportReport",
    "ExportSpec",
    "LengthReport",
    "export",
    "export_spec",
    "load_export_section",
]
