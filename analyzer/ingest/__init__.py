"""Reading Cloud Logging exports into the lake: file discovery, normalisation, quarantine."""

from analyzer.ingest.importer import (
    ImportProgress,
    ImportResult,
    import_files,
    import_files_locked,
    import_paths,
)

__all__ = ["ImportProgress", "ImportResult", "import_files", "import_files_locked", "import_paths"]
