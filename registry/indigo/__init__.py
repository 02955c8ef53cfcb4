"""INDIGO interoperability: import GO Lab's Impact Bond Dataset into the registry, and export back.

Public entry points:

- :func:`import_export` (``registry.indigo.importer``): an export folder into the registry.
- :func:`merged_document`, :func:`get_display_document` (``registry.indigo.merge``): curated + INDIGO.
- :func:`export_contracts` (``registry.indigo.exporter``): indigo-csv, json, csv, xlsx.
- :data:`ATTRIBUTION`: the text to show wherever INDIGO data is displayed or exported.
- :data:`BUNDLED_EXPORT`: GO Lab's 2025-12-24 export, shipped with the package (``data/README.md``).
"""

from registry.indigo.values import ATTRIBUTION, BUNDLED_EXPORT, BUNDLED_EXPORT_DATE

__all__ = ["ATTRIBUTION", "BUNDLED_EXPORT", "BUNDLED_EXPORT_DATE"]
