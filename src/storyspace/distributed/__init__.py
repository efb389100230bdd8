"""Work spread over a Ray cluster (``--ray``): actors that each hold their own models, a driver
that alone writes the output directory (issue #13). Without ``--ray`` nothing here imports Ray."""
