"""The engine: the run axis and its memory layout, the sharded programs, the training loop.

``layout`` sizes runs and splits them into devices x groups, ``programs`` compiles
``jit(shard_map(vmap(...)))``, ``engine.execute`` drives the groups and segments.
"""
