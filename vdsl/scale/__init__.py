"""Scale past one question at a time: jobs on a process pool or Dask (DESIGN §8)."""
