// One job: its state, live while it runs; once completed its summary (histogram with the
// threshold and the suggestion), a preview of the first matched pairs, and the downloads.

import { api, download, firstRecords } from "./api.js";
import { h, redraw, replace, showError } from "./dom.js";
import * as fmt from "./format.js";
import { histogram } from "./histogram.js";
import { cancelOrDelete, progressBar, statusBadge } from "./jobs.js";

const REFRESH_MS = 1000;
const PREVIEW_PAIRS = 20;

function facts(job) {
  const rows = [
    ["Status", statusBadge(job.status)],
    ["Progress", progressBar(job, "Progress")],
    ["Message", job.message],
  ];
  if (job.error_message) rows.push(["Error", h("span", { class: "error-text", id: "job-error-message" }, job.error_message)]);
  if (job.queue_position !== undefined && job.queue_position !== null) rows.push(["Queue position", String(job.queue_position)]);
  if (!fmt.FINISHED.has(job.status)) rows.push(["ETA", fmt.outlook(job)]);
  if (job.shards_total > 1) rows.push(["Shards", `${job.shards_done} of ${job.shards_total} done`]);
  rows.push(
    ["Priority", fmt.priority(job.priority)],
    ["Created", fmt.when(job.created_at)],
    ["Started", fmt.when(job.started_at)],
    ["Finished", fmt.when(job.completed_at)],
    ["Run time", fmt.seconds(job.duration)],
    ["Owner", job.user_id],
    ["Job id", h("code", {}, job.id)],
  );
  return h("dl", { class: "facts", id: "job-facts" }, ...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function counts(summary) {
  const items = [
    ["File 1 rows", fmt.count(summary.rows1)],
    ["File 2 rows", fmt.count(summary.rows2)],
    ["Pairs", fmt.count(summary.pairs)],
    ["Unmatched in file 1", fmt.count(summary.unmatched1)],
    ["Unmatched in file 2", fmt.count(summary.unmatched2)],
    ["Threshold", fmt.score(summary.threshold)],
    ["Suggested threshold", fmt.score(summary.suggested_threshold)],
  ];
  return h("dl", { class: "cards", id: "summary-counts" }, ...items.map(([k, v]) => h("div", { class: "card" }, h("dt", {}, k), h("dd", {}, v))));
}

function sideText(record) {
  return Object.entries(record || {})
    .map(([column, value]) => `${column}: ${value ?? "—"}`)
    .join(" · ");
}

function previewTable(records) {
  const mappings = Math.max(0, ...records.map((r) => (r.mapping_scores || []).length));
  const heads = ["File 1 row", "File 2 row", "Score", ...Array.from({ length: mappings }, (_, i) => `Mapping ${i + 1}`), "File 1", "File 2"];
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      { id: "preview-table" },
      h("caption", {}, `The first ${records.length} matched pairs, with the score of each mapping`),
      h("thead", {}, h("tr", {}, ...heads.map((t) => h("th", { scope: "col" }, t)))),
      h(
        "tbody",
        {},
        ...records.map((r) =>
          h(
            "tr",
            {},
            h("td", { class: "num" }, String(r.file1_row)),
            h("td", { class: "num" }, String(r.file2_row)),
            h("td", { class: "num" }, fmt.score(r.score)),
            ...Array.from({ length: mappings }, (_, i) => h("td", { class: "num" }, fmt.score((r.mapping_scores || [])[i]))),
            h("td", {}, sideText(r.file1)),
            h("td", {}, sideText(r.file2)),
          ),
        ),
      ),
    ),
  );
}

/** The completed job's results: downloads, then summary and preview as they arrive. */
async function showResults(job, box) {
  const section = (id, title, ...content) => h("section", { id, "aria-labelledby": `${id}-title` }, h("h2", { id: `${id}-title` }, title), ...content);
  const summaryBox = h("div", {}, h("p", { class: "muted" }, "Loading the summary…"));
  const previewBox = h("div", {}, h("p", { class: "muted" }, "Loading the preview…"));
  const filesBox = h("div", {}, h("p", { class: "muted" }, "Loading the download links…"));
  replace(box, section("summary", "Summary", summaryBox), section("preview", "Preview", previewBox), section("downloads", "Downloads", filesBox));

  const { files } = await api.results(job.id);
  replace(
    filesBox,
    h(
      "ul",
      { class: "downloads", id: "download-list" },
      ...files.map((f) =>
        h("li", {}, h("a", { href: f.download_url, "data-name": f.name, rel: "noreferrer" }, f.name), " ", h("span", { class: "muted" }, `${fmt.bytes(f.size_bytes)} · link valid ${fmt.seconds(f.expires_in)}`)),
      ),
    ),
  );
  const byName = Object.fromEntries(files.map((f) => [f.name, f]));
  const summary = byName["summary.json"]
    ? download(byName["summary.json"].download_url).then((s) => replace(summaryBox, counts(s), histogram(s.score_histogram, s.threshold, s.suggested_threshold)))
    : Promise.resolve(replace(summaryBox, h("p", {}, "This job has no summary.json.")));
  const matched = byName["matched_results.json"];
  const preview = matched
    ? firstRecords(matched.download_url, PREVIEW_PAIRS).then((records) =>
        replace(previewBox, records.length ? previewTable(records) : h("p", {}, "No pairs reached the threshold.")),
      )
    : Promise.resolve(
        replace(previewBox, h("p", { id: "preview-needs-json" }, "The preview reads matched_results.json: it needs output format json. Download the results below instead.")),
      );
  const failed = (target) => (error) => replace(target, h("p", { class: "error" }, error.details || String(error)));
  await Promise.all([summary.catch(failed(summaryBox)), preview.catch(failed(previewBox))]);
}

export function mount(root, { ready, params, go }) {
  const id = params[0];
  const state = { timer: null, disposed: false, first: true, resultsShown: false };
  const error = h("p", { class: "error", role: "alert", id: "job-page-error", hidden: true });
  const title = h("h1", { tabindex: -1, id: "job-title" }, "Job");
  const actions = h("div", { class: "actions" });
  const factsBox = h("div", { "aria-live": "off" });
  const results = h("div", { id: "results" });
  replace(root, h("p", {}, h("a", { href: "#/" }, "← All jobs")), h("div", { class: "title" }, title, actions), error, factsBox, results);

  function draw(job) {
    title.textContent = job.name;
    redraw(actions, () => {
      const finished = fmt.FINISHED.has(job.status);
      replace(
        actions,
        h(
          "button",
          {
            type: "button",
            id: finished ? "delete-job" : "cancel-job",
            "data-key": finished ? "delete" : "cancel",
            class: finished ? "danger" : "",
            onclick: () =>
              cancelOrDelete(
                job,
                (what) => (what === "deleted" ? go("#/") : refresh()),
                (message) => showError(error, message),
              ),
          },
          finished ? "Delete job" : "Cancel job",
        ),
      );
    });
    replace(factsBox, facts(job));
  }

  async function refresh() {
    clearTimeout(state.timer);
    let job;
    try {
      job = await api.job(id);
    } catch (failure) {
      if (!state.disposed) showError(error, failure.details || String(failure));
      if (!state.disposed && failure.status !== 404 && failure.status !== 403) state.timer = setTimeout(refresh, REFRESH_MS * 3);
      if (state.first) ready();
      state.first = false;
      return;
    }
    if (state.disposed) return;
    showError(error, "");
    draw(job);
    if (state.first) {
      state.first = false;
      ready();
    }
    if (job.status === "completed" && !state.resultsShown) {
      state.resultsShown = true;
      await showResults(job, results).catch((failure) => replace(results, h("p", { class: "error" }, failure.details || String(failure))));
      // The second figure of this page: summary, histogram and preview drawn.
      if (!state.disposed) ready("results");
    } else if (job.status !== "completed") {
      replace(results);
    }
    if (!state.disposed && !fmt.FINISHED.has(job.status)) state.timer = setTimeout(refresh, REFRESH_MS);
  }

  refresh();
  return () => {
    state.disposed = true;
    clearTimeout(state.timer);
  };
}
