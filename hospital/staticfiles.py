"""A static files finder for the plotly.js that the installed plotly package ships.

Served as static/plotly/plotly.min.js, so the charts work on an offline intranet (no CDN) and the
browser's plotly.js is always the version the Python package writes figures for.
"""

from pathlib import Path

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PLOTLY_JS = "plotly.min.js"
PREFIX = "plotly"


class PlotlyFinder(BaseFinder):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(location=Path(plotly.__file__).parent / "package_data")
        self.storage.prefix = PREFIX

    def find(self, path, find_all=False, **kwargs):
        if path != f"{PREFIX}/{PLOTLY_JS}":
            return [] if find_all else None
        found = self.storage.path(PLOTLY_JS)
        return [found] if find_all else found

    def list(self, ignore_patterns):
        yield PLOTLY_JS, self.storage
