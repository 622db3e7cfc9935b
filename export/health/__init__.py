"""The health model's export stages: prepare -> train -> onnx_export -> verify -> install.

Each stage is a module with a function that reads its inputs from files, writes its output plus
``<output>.meta.json`` (inputs, seed, sizes, metrics, versions, wall time) and can be re-run alone
(``python -m export.health.train --help``); `pipeline.run_pipeline` chains them.
"""
