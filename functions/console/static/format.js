// How numbers, times and sizes read on the page.

export const PRIORITIES = { 1: "low", 2: "normal", 3: "high", 4: "urgent" };
export const STATUSES = ["pending", "running", "completed", "failed", "cancelled"];
export const FINISHED = new Set(["completed", "failed", "cancelled"]);

const number = new Intl.NumberFormat();

export function count(value) {
  return value === null || value === undefined ? "—" : number.format(value);
}

/** 75 -> "1 min 15 s", 3725 -> "1 h 2 min". */
export function seconds(value) {
  if (value === null || value === undefined) return "—";
  const s = Math.max(0, Math.round(value));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  const m = Math.floor((s % 3600) / 60);
  return `${Math.floor(s / 3600)} h${m ? ` ${m} min` : ""}`;
}

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function bytes(value) {
  if (value === null || value === undefined) return "—";
  const units = ["B", "KB", "MB", "GB"];
  let size = value;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${unit ? size.toFixed(1) : size} ${units[unit]}`;
}

export function score(value) {
  return value === null || value === undefined ? "—" : Number(value).toFixed(1);
}

export function priority(value) {
  return `${value} (${PRIORITIES[value] || "?"})`;
}

/** What the waiting or running job expects next: ETA, or its place in the queue. */
export function outlook(job) {
  if (job.status === "running") {
    return job.estimated_remaining === null || job.estimated_remaining === undefined
      ? "estimating…"
      : `${seconds(job.estimated_remaining)} left`;
  }
  if (job.status === "pending") {
    return job.queue_position ? `#${job.queue_position} in queue` : "queued";
  }
  return "";
}

/** "2 of 8 shards" for a sharded job, "" for a job run in one piece. */
export function shards(job) {
  return job.shards_total > 1 ? `${job.shards_done} of ${job.shards_total} shards` : "";
}
