"""faiss-cpu IndexFlatIP on one thread over the vectors the kernel bench wrote.

    python faiss_flat.py VECTORS.f32 QUERIES.f32 DIM K RUNS > result.json

Prints JSON: faiss version, per-query latency in ms (each query searched alone, `RUNS` passes,
the last pass's times), and the top-k row numbers of each query.
"""
import json
import sys
import time

import faiss
import numpy as np

vectors_path, queries_path, dim, k, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
faiss.omp_set_num_threads(1)
xb = np.fromfile(vectors_path, dtype=np.float32).reshape(-1, dim)
xq = np.fromfile(queries_path, dtype=np.float32).reshape(-1, dim)
index = faiss.IndexFlatIP(dim)
index.add(xb)
index.search(xq[:1], k)  # warm-up
times = []
rows = []
for _ in range(runs):
    times = []
    rows = []
    for q in xq:
        t = time.perf_counter()
        _, ids = index.search(q[None, :], k)
        times.append((time.perf_counter() - t) * 1000)
        rows.append(ids[0].tolist())
print(json.dumps({"faiss": faiss.__version__, "numpy": np.__version__, "threads": faiss.omp_get_max_threads(), "times_ms": times, "rows": rows}))
