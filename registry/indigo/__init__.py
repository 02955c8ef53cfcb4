"""INDIGO interoperability: import GO Lab's Impact Bond Dataset into the registry, and export back.

Public entry points:

- :func:`import_export` (``registry.indigo.importer``): an export folder into the registry.
- :func:`merged_document`, :func:`get_display_document` (``registry.indigo.merge``): curated + INDIGO.
- :func:`export_contracts` (``registry.indigo.exporter``): indigo-csv, json, csv, xlsx.
- :data:`ATTRIBUTION`: the text to show wherever INDIGO data is displayed or exported.
"""

from registry.indigo.values import ATTRIBUTION

__all__ = ["ATTRIBUTION"]
