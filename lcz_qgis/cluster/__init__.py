"""Classification of many rasters or tiles on Dask distributed (``lcz classify-many``): tasks, tile windows with halos, the run (lock, resume, retries), the mosaic and the run report.

Dask is imported only when a run starts a client, never when this package is imported.

Public names (imported on first use, so importing the package stays cheap):
- ``inputs``: RasterHeader, TaskSpec, TilePlan, halo_for, plan_tasks, read_header, read_inputs
- ``mosaic``: area_counts, build_cog, build_vrt, count_cells, crs_label, group_by_crs, relative
- ``report``: RunReport, task_entry
- ``run``: ManyOptions, Outcome, RunLock, check_space, classify_many, execute, model_sensor, plan_run, start_client, submit_all, warm_workers
- ``tasks``: FixedBatchModel, JobConfig, attempts_dir, attempts_since, file_sha256, finished_record, limit_threads, record_path, run_task, thread_environment, tile_path, warm_worker, worker_model
"""

from ..common.lazy import lazy_exports

_MODULES = {
    "inputs": "RasterHeader TaskSpec TilePlan halo_for plan_tasks read_header read_inputs",
    "mosaic": "area_counts build_cog build_vrt count_cells crs_label group_by_crs relative",
    "report": "RunReport task_entry",
    "run": "ManyOptions Outcome RunLock check_space classify_many execute model_sensor "
    "plan_run start_client submit_all warm_workers",
    "tasks": "FixedBatchModel JobConfig attempts_dir attempts_since file_sha256 "
    "finished_record limit_threads record_path run_task thread_environment tile_path "
    "warm_worker worker_model",
}

__getattr__, __dir__, __all__ = lazy_exports(
    __name__, {name: mod for mod, names in _MODULES.items() for name in names.split()}
)
