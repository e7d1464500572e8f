"""Classification of many rasters or tiles on Dask distributed (``lcz classify-many``): tasks, tile windows with halos, the run (lock, resume, retries), the mosaic and the run report.

Dask is imported only when a run starts a client, never when this package is imported.

Public names (imported on first use, so importing the package stays cheap):
- ``client``: CONNECT_TIMEOUT_S, WORKER_START_S, close_quietly, connect_client, local_client, start_client, worker_python
- ``inputs``: RasterHeader, TaskSpec, TilePlan, halo_for, plan_tasks, read_header, read_inputs
- ``mosaic``: area_counts, build_cog, build_vrt, count_cells, crs_label, group_by_crs, overlapping_pairs
- ``records``: finished_record, schema_problem, tile_problem
- ``report``: RunReport, task_entry
- ``run``: ManyOptions, Outcome, RunCancelled, RunLock, check_model, check_options, check_space, classify_many, execute, plan_run, submit_all, warn_overlaps, warm_workers
- ``worker_start``: dask_setup
- ``tasks``: JobConfig, attempts_dir, attempts_since, file_sha256, framework_name, limit_threads, record_path, run_task, thread_environment, tile_path, warm_worker, worker_model
"""

from ..common.lazy import lazy_exports

_MODULES = {
    "client": "CONNECT_TIMEOUT_S WORKER_START_S close_quietly connect_client local_client "
    "start_client worker_python",
    "inputs": "RasterHeader TaskSpec TilePlan halo_for plan_tasks read_header read_inputs",
    "mosaic": "area_counts build_cog build_vrt count_cells crs_label group_by_crs overlapping_pairs",
    "records": "finished_record schema_problem tile_problem",
    "report": "RunReport task_entry",
    "run": "ManyOptions Outcome RunCancelled RunLock check_model check_options check_space classify_many "
    "execute plan_run submit_all warn_overlaps warm_workers",
    "tasks": "JobConfig attempts_dir attempts_since file_sha256 framework_name "
    "limit_threads record_path run_task thread_environment tile_path "
    "warm_worker worker_model",
    "worker_start": "dask_setup",
}

__getattr__, __dir__, __all__ = lazy_exports(
    __name__, {name: mod for mod, names in _MODULES.items() for name in names.split()}
)
