"""The computation graph drawn: DOT (`view.py`), our own layered layout (`layout.py`) and
a self-contained HTML page (`html.py`)."""
