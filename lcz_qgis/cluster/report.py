"""The run report of classify-many: tasks, times, retries, failures, outputs.

``run_report.json`` in the output folder holds one entry per task (done now, skipped as
finished earlier, or failed with its message) and the run's totals. The scheduling
overhead is the run's wall time (first submission to last result) beyond the busiest
worker's task time, as a share of that task time.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..common.atomic import write_text_atomic

REPORT_NAME = "run_report.json"


@dataclass
class RunReport:
    """A classify-many run, as ``run_report.json`` records it.

    Attributes:
        folder: the output folder.
        scheduler: ``local`` or the scheduler's address.
        workers: the workers seen at the start.
        tasks: one dict per task (name, status, seconds, CPU seconds, attempts, retries,
            worker, error).
        wall_s: first submission to last result.
        import_s, load_s: the workers' warm-up before the first submission: importing the
            model's framework and loading the model (the slowest worker's, each once per
            worker, all workers side by side).
        outputs: what was written (mosaics, COGs, area table), relative to ``folder``.
        area_from: ``records`` (summed counts) or ``mosaic`` (overlapping tiles).
        runtime: the engine the workers were told to run the model on (``onnx`` or
            ``tensorflow``: the model's own framework); each task's entry names the
            engine its worker ran (``engine``).
        overlaps: tiles of one CRS that overlap, as the run warned: {count, pairs (the
            first 5, by name), rule (which tile the mosaic shows)}; empty when none do.
    """

    folder: Path
    scheduler: str
    workers: int
    tasks: list = field(default_factory=list)
    wall_s: float = 0.0
    import_s: float = 0.0
    load_s: float = 0.0
    outputs: dict = field(default_factory=dict)
    area_from: str = "records"
    runtime: str = ""
    overlaps: dict = field(default_factory=dict)

    def count(self, status: str) -> int:
        """Tasks with ``status`` (done, skipped, failed, cancelled)."""
        return sum(1 for t in self.tasks if t["status"] == status)

    @property
    def task_seconds(self) -> float:
        """Seconds of the tasks run in this run, all workers together."""
        return sum(t.get("seconds", 0.0) for t in self.tasks if t["status"] == "done")

    @property
    def retries(self) -> int:
        """Attempts beyond the first, over the tasks run in this run."""
        return sum(t.get("retries", 0) for t in self.tasks)

    @property
    def overhead(self) -> float | None:
        """(wall - busiest worker's task seconds) / that time; None when nothing ran."""
        busy: dict = {}
        for t in self.tasks:
            if t["status"] == "done":
                key = (t.get("host"), t.get("pid"))
                busy[key] = busy.get(key, 0.0) + t.get("seconds", 0.0)
        top = max(busy.values(), default=0.0)
        return (self.wall_s - top) / top if top > 0 else None

    def as_dict(self) -> dict:
        """The report as written to ``run_report.json``."""
        return {
            "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "scheduler": self.scheduler,
            "workers": self.workers,
            "tasks_total": len(self.tasks),
            **{status: self.count(status) for status in ("done", "skipped", "failed")},
            "retries": self.retries,
            "wall_s": round(self.wall_s, 3),
            "worker_import_s": round(self.import_s, 3),
            "worker_load_s": round(self.load_s, 3),
            "task_seconds": round(self.task_seconds, 3),
            "scheduling_overhead": None if self.overhead is None else round(self.overhead, 4),
            "area_from": self.area_from,
            "runtime": self.runtime,
            "overlaps": self.overlaps,
            "outputs": self.outputs,
            "tasks": self.tasks,
        }

    def write(self) -> Path:
        """Write ``run_report.json`` (write-then-rename); returns its path."""
        path = Path(self.folder) / REPORT_NAME
        write_text_atomic(path, json.dumps(self.as_dict(), indent=1))
        return path

    def summary(self) -> str:
        """A few lines for the console and the Processing log."""
        lines = [
            f"{len(self.tasks)} tasks: {self.count('done')} done, {self.count('skipped')} "
            f"already finished (skipped), {self.count('failed')} failed; {self.retries} "
            f"retries; {self.wall_s:.1f} s on {self.workers} worker(s)"
        ]
        if self.import_s or self.load_s:
            lines.append(f"workers warmed up first: {self.import_s:.1f} s to import the "
                         f"framework, {self.load_s:.1f} s to load the model")  # fmt: skip
        if self.overhead is not None:
            lines.append(f"scheduling overhead: {100 * self.overhead:.1f} % of task time")
        lines += [f"  failed: {t['name']}: {t['error']}" for t in self.tasks
                  if t["status"] == "failed"]  # fmt: skip
        lines += [f"  {key.lower()}: {self.folder / p}" for key, p in self.outputs.items()]
        return "\n".join(lines)


def task_entry(name: str, status: str, record: dict | None = None, error: str = "") -> dict:
    """One task's line of the report, from its success record (or its error)."""
    entry = {"name": name, "status": status}
    if record:
        attempts = int(record.get("attempts", 1)) if status == "done" else 0
        entry.update(
            seconds=record.get("seconds", 0.0),
            load_seconds=record.get("load_seconds", 0.0),
            cpu_seconds=record.get("cpu_seconds"),
            attempts=attempts,
            retries=max(0, attempts - 1),
            host=record.get("host"),
            pid=record.get("pid"),
            tile=record.get("tile"),
            engine=record.get("engine"),
        )
    if error:
        entry["error"] = error
    return entry
