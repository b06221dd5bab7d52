"""
Scaling out: the same exact k-NN on a Dask cluster
==================================================

:mod:`fastmetric.dask` runs the search on Dask arrays: each (query block, reference block) task is
one engine call returning its top-k, and a fixed tree of :func:`fastmetric.merge_kneighbors` calls
merges them with global indices -- exact, ties by index included, never a query-by-reference
matrix. This example starts a ``distributed.LocalCluster`` (two workers of one thread, in this
process so that the documentation build stays light; ``processes=True`` runs them as separate
processes, as on a real cluster), searches 20,000 references in five chunks, checks the result
against the in-memory :func:`fastmetric.kneighbors` and plots the task graph's shape: how many
tasks each chunking makes.
"""

import time

import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster

import fastmetric as fm
import fastmetric.dask as fmd

rng = np.random.default_rng(0)
refs = rng.normal(size=(20000, 32)).astype(np.float32)
queries = rng.normal(size=(2000, 32)).astype(np.float32)

with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
    with Client(cluster):
        dQ = da.from_array(queries, chunks=(500, 32))
        dR = da.from_array(refs, chunks=(4000, 32))
        t = time.perf_counter()
        dist, idx = fmd.kneighbors(dQ, dR, k=10)
        dist, idx = dist.compute(), idx.compute()
        t_dask = time.perf_counter() - t

t = time.perf_counter()
d_mem, i_mem = fm.kneighbors(queries, refs, k=10)
t_mem = time.perf_counter() - t
print(f"on the cluster: {t_dask:.2f} s; in memory: {t_mem:.2f} s")
print("indices equal:", np.array_equal(idx, i_mem), " distances equal:", np.array_equal(dist, d_mem))

# %%
# Tasks per chunking: q query blocks x r reference blocks searches, then r - 1 merges per query block.
ref_chunks = [1000, 2000, 4000, 10000, 20000]
n_tasks = []
for c in ref_chunks:
    d, i = fmd.kneighbors(da.from_array(queries, chunks=(500, 32)), da.from_array(refs, chunks=(c, 32)), k=10)
    n_tasks.append(len(dict(i.__dask_graph__())))
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(ref_chunks, n_tasks, "o-")
ax.set_xscale("log")
ax.set_xlabel("reference chunk (rows)")
ax.set_ylabel("tasks in the graph")
ax.set_title("k-NN of 2,000 queries (4 blocks) among 20,000 references", fontsize=9)
fig.tight_layout()
plt.show()
