"""placer: decide where AI work should run."""

from placer.catalog import Catalog, default_catalog, load_catalog
from placer.errors import InputError, PlacerError

__all__ = ["Catalog", "InputError", "PlacerError", "default_catalog", "load_catalog"]
__version__ = "0.1.0"
