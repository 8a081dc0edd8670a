"""Training export: an output directory's samples as a data set stock trainers load as is."""

from engine.export.formats import FileType, Format
from engine.export.lengths import LengthReport, OverCutoff
from engine.export.run import ExportReport, export
from engine.export.spec import ExportError, ExportSpec, export_spec, load_export_section

__all__ = [
    "ExportError",
    "ExportReport",
    "ExportSpec",
    "FileType",
    "Format",
    "LengthReport",
    "OverCutoff",
    "export",
    "export_spec",
    "load_export_section",
]
