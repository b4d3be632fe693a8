"""Where the heavy work runs: in this process (``executor: local``, the default) or on Ray actors
(``executor: ray``). The work units, their keys and the store writes are the same either way; only who
computes the vectors and the completions changes (:mod:`synthtune.executor.ray_actors`)."""
