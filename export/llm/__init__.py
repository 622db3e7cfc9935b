"""The language-model export: coaching corpus -> fine-tune -> GGUF -> quantise -> verify -> install.

`edgecoach export llm` (see `export.llm.cli`) runs every stage; each writes its output and a
``.meta.json`` beside it, so any stage can be re-run alone.
"""
