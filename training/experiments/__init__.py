"""Tools for comparing finished runs. The product path (training/*.py) never imports this package."""
