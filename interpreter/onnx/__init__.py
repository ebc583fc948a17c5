"""ONNX both ways: export a spec to a model onnxruntime runs (`export.py`, each op's
lowering beside the op), import a model as a spec (`importer.py`, one rule per ONNX op
type in `rules.py`). Needs the `onnx` extra."""
