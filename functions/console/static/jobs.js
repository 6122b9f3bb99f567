// The jobs page: stats cards, a status filter, the jobs table (newest first, paged with
// the X-Next-Token of GET /jobs/list) and its live progress: refreshed every 2 s while a
// job is pending or running, every 10 s otherwise, not at all while the tab is hidden.

import { api } from "./api.js";
import { confirmAction, h, redraw, replace, showError } from "./dom.js";
import * as fmt from "./format.js";

const PAGE_SIZES = [5, 20, 50, 100];
const REFRESH_MS = 2000;
const IDLE_REFRESH_MS = 10000;

export function statusBadge(status) {
  return h("span", { class: `badge ${status}` }, status);
}

export function progressBar(job, label) {
  return h(
    "span",
    { class: "progress" },
    h("progress", { max: 100, value: job.progress, "aria-label": label }),
    h("span", { class: "num" }, `${job.progress}%`),
  );
}

/** Cancel (pending, running) or delete (finished) a job after a confirmation. */
export async function cancelOrDelete(job, onDone, onError) {
  const cancel = !fmt.FINISHED.has(job.status);
  const confirmed = await confirmAction(
    cancel
      ? `Cancel “${job.name}”? A running job stops within a few seconds and keeps no results.`
      : `Delete “${job.name}” and its result files? This cannot be undone.`,
    cancel ? "Cancel job" : "Delete job",
  );
  if (!confirmed) return;
  try {
    await (cancel ? api.cancel(job.id) : api.remove(job.id));
    onDone(cancel ? "cancelled" : "deleted");
  } catch (error) {
    onError(error.details || String(error));
  }
}

function statsCards(stats) {
  const card = (label, value, key) =>
    h("div", { class: `card ${key || ""}` }, h("dt", {}, label), h("dd", { id: `stat-${key}` }, value));
  return h(
    "dl",
    { class: "cards" },
    card("Total", fmt.count(stats.total_jobs), "total"),
    ...fmt.STATUSES.map((s) => card(s[0].toUpperCase() + s.slice(1), fmt.count(stats[s]), s)),
    card("Workers", `${fmt.count(stats.active_workers)} / ${fmt.count(stats.total_workers)}`, "workers"),
  );
}

export function mount(root, { ready }) {
  // tokens[i] is the next_token that fetches page i (null: the first page).
  const state = { status: "", size: 20, tokens: [null], page: 0, timer: null, disposed: false, first: true, seq: 0 };
  const restart = () => {
    state.tokens = [null];
    state.page = 0;
    refresh();
  };

  const error = h("p", { class: "error", role: "alert", id: "jobs-error", hidden: true });
  const notice = h("p", { class: "notice", role: "status", id: "jobs-notice", "aria-live": "polite" });
  const stats = h("div", { id: "stats" });
  const filter = h(
    "select",
    { id: "status-filter", onchange: () => { state.status = filter.value; restart(); } },
    h("option", { value: "" }, "all"),
    ...fmt.STATUSES.map((s) => h("option", { value: s }, s)),
  );
  const size = h(
    "select",
    { id: "page-size", onchange: () => { state.size = Number(size.value); restart(); } },
    ...PAGE_SIZES.map((n) => h("option", { value: n, selected: n === state.size }, String(n))),
  );
  const body = h("tbody", { id: "jobs-body" });
  const newer = h("button", { type: "button", id: "page-newer", onclick: () => turn(-1) }, "← Newer");
  const older = h("button", { type: "button", id: "page-older", onclick: () => turn(1) }, "Older →");
  const pageLabel = h("span", { id: "page-label", "aria-live": "polite" });

  replace(
    root,
    h("div", { class: "title" }, h("h1", { tabindex: -1 }, "Jobs"), h("a", { class: "button primary", href: "#/new" }, "New job")),
    error,
    notice,
    h("section", { "aria-labelledby": "stats-title" }, h("h2", { id: "stats-title", class: "sr-only" }, "Stats"), stats),
    h(
      "div",
      { class: "toolbar" },
      h("label", { for: "status-filter" }, "Status"),
      filter,
      h("label", { for: "page-size" }, "Per page"),
      size,
    ),
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        { class: "jobs", id: "jobs-table" },
        h("caption", { class: "sr-only" }, "Your jobs, newest first"),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ...["Name", "Status", "Priority", "Progress", "ETA / queue", "Shards", "Created", "Actions"].map((t) =>
              h("th", { scope: "col" }, t),
            ),
          ),
        ),
        body,
      ),
    ),
    h("nav", { class: "pager", "aria-label": "Pages" }, newer, pageLabel, older),
  );

  function row(job) {
    const action = fmt.FINISHED.has(job.status) ? "Delete" : "Cancel";
    return h(
      "tr",
      { "data-job": job.id, "data-status": job.status },
      h("td", {}, h("a", { href: `#/jobs/${encodeURIComponent(job.id)}`, "data-key": `open-${job.id}` }, job.name)),
      h("td", {}, statusBadge(job.status)),
      h("td", {}, fmt.priority(job.priority)),
      h("td", {}, progressBar(job, `Progress of ${job.name}`)),
      h("td", { class: "outlook" }, fmt.outlook(job)),
      h("td", { class: "shards" }, fmt.shards(job)),
      h("td", {}, h("time", { datetime: job.created_at }, fmt.when(job.created_at))),
      h(
        "td",
        {},
        h(
          "button",
          {
            type: "button",
            class: action === "Delete" ? "danger small" : "small",
            "data-key": `${action}-${job.id}`,
            "aria-label": `${action} ${job.name}`,
            onclick: () =>
              cancelOrDelete(
                job,
                (what) => {
                  notice.textContent = `Job “${job.name}” ${what}.`;
                  refresh();
                },
                (message) => showError(error, message),
              ),
          },
          action,
        ),
      ),
    );
  }

  function turn(step) {
    state.page = Math.max(0, state.page + step);
    refresh();
  }

  async function refresh() {
    clearTimeout(state.timer);
    if (document.hidden && !state.first) {
      state.timer = setTimeout(refresh, REFRESH_MS);
      return;
    }
    let delay = REFRESH_MS;
    // A newer refresh (filter changed, page turned) makes an older answer stale.
    const seq = ++state.seq;
    try {
      const [numbers, page] = await Promise.all([
        api.stats(),
        api.list({ status: state.status, limit: state.size, nextToken: state.tokens[state.page] }),
      ]);
      if (state.disposed || seq !== state.seq) return;
      state.tokens[state.page + 1] = page.nextToken;
      redraw(stats, () => replace(stats, statsCards(numbers)));
      redraw(body, () =>
        replace(
          body,
          page.jobs.length
            ? page.jobs.map(row)
            : h("tr", {}, h("td", { colspan: 8, class: "muted" }, state.status ? `No ${state.status} jobs.` : "No jobs yet: submit one with New job.")),
        ),
      );
      newer.disabled = state.page === 0;
      older.disabled = !page.nextToken;
      pageLabel.textContent = `Page ${state.page + 1}`;
      if (!numbers.pending && !numbers.running) delay = IDLE_REFRESH_MS;
      showError(error, "");
      if (state.first) {
        state.first = false;
        ready();
      }
    } catch (failure) {
      if (state.disposed || seq !== state.seq) return;
      showError(error, failure.details || String(failure));
    }
    if (!state.disposed) state.timer = setTimeout(refresh, delay);
  }

  refresh();
  return () => {
    state.disposed = true;
    clearTimeout(state.timer);
  };
}
