"""Speed changes measured by the benchmark, ready for the owners of the code to adopt.

Each module applies one change to the running Rasa server when imported (a
monkeypatch, so the benchmark can measure it on an unchanged tree by importing
it through the BENCH_PATCHES environment variable in a snapshot). The real fix
belongs in the owning file; each module's docstring says where and how.
"""
