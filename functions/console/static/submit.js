// The submit form: two files uploaded straight to storage (POST /files, then the presigned
// POST with upload progress), each file's columns and first rows (GET /files/{file_id}),
// the mappings built from those columns, the options, then POST /jobs/submit.

import { api, upload } from "./api.js";
import { h, replace, showError } from "./dom.js";
import { clearErrors, field, group, placeErrors } from "./fields.js";
import * as fmt from "./format.js";

const ACCEPT = ".csv,.tsv,.txt,.xlsx,.json,.jsonl";
const SCORERS = ["token_sort_ratio", "ratio", "partial_ratio", "token_set_ratio", "WRatio", "jaro_winkler"];

const select = (options, value) =>
  h("select", {}, ...options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));

/** A fresh Idempotency-Key (getRandomValues works on plain http too, randomUUID does not). */
function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function previewTable(file) {
  const columns = file.columns;
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      { class: "sample" },
      h("caption", {}, `${file.filename}: the first ${file.sample_rows.length} rows`),
      h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, ...file.sample_rows.map((row) => h("tr", {}, ...columns.map((c) => h("td", {}, row[c] ?? ""))))),
    ),
  );
}

function describe(file) {
  const parts = [`${file.columns.length} columns`, file.format, fmt.bytes(file.size_bytes)];
  if (file.encoding) parts.push(file.encoding);
  if (file.delimiter) parts.push(`delimiter ${file.delimiter === "\t" ? "tab" : `“${file.delimiter}”`}`);
  return `${file.filename}: ${parts.join(", ")}`;
}

/** A column pair both files share by name (ignoring case and punctuation), else the first two. */
function guessPair(columns1, columns2) {
  const plain = (c) => c.toLowerCase().replace(/[^a-z0-9]/g, "");
  for (const c1 of columns1) {
    const c2 = columns2.find((c) => plain(c) === plain(c1));
    if (c2) return [c1, c2];
  }
  return [columns1[0], columns2[0]];
}

export function mount(root, { ready, go }) {
  const key = idempotencyKey();
  const files = { 1: null, 2: null }; // GET /files/{file_id} answers, once read
  const uploading = new Set();
  const rows = []; // mapping rows: {box, file1, file2, type, scorer, normalize, weight}

  const general = h("p", { class: "error", role: "alert", id: "submit-error", tabindex: -1, hidden: true });
  const name = h("input", { type: "text", autocomplete: "off", maxlength: 200, required: true });
  const priority = select(Object.entries(fmt.PRIORITIES).map(([v, n]) => [v, `${v} (${n})`]), "2");
  const threshold = h("input", { type: "number", min: 0, max: 100, step: "any", value: 80 });
  const mode = select([["best", "best: each file 1 row's best pair"], ["all", "all pairs above the threshold"], ["one_to_one", "one to one"]], "best");
  const format = select([["json", "json"], ["csv", "csv"], ["xlsx", "xlsx"]], "json");
  const unmatched = h("input", { type: "checkbox", checked: true });
  const submit = h("button", { type: "submit", class: "primary", id: "submit-job" }, "Submit job");
  const addMapping = h("button", { type: "button", id: "add-mapping", disabled: true, onclick: () => addRow() }, "Add mapping");
  const mappingList = h("div", { id: "mapping-rows" });
  const mappingHint = h("p", { class: "hint", id: "mappings-hint" }, "Upload both files to choose the columns to compare.");

  function fileSection(side) {
    const input = h("input", { type: "file", accept: ACCEPT, required: true });
    const bar = h("progress", { max: 100, value: 0, id: `file${side}-progress`, hidden: true, "aria-label": `Upload of file ${side}` });
    const status = h("p", { class: "upload-status", id: `file${side}-status`, role: "status", "aria-live": "polite" });
    const preview = h("div", { id: `file${side}-preview` });
    const box = field(`config.file${side}`, `file${side}-input`, `File ${side}`, input, ".csv, .tsv, .txt, .xlsx, .json or .jsonl");
    input.addEventListener("change", () => input.files[0] && send(side, input.files[0], { bar, status, preview, error: box.querySelector(".field-error"), input }));
    return h("section", { class: "file", "aria-labelledby": `file${side}-title` }, h("h2", { id: `file${side}-title` }, side === 1 ? "File 1 (left)" : "File 2 (right)"), box, bar, status, preview);
  }

  async function send(side, file, ui) {
    files[side] = null;
    uploading.add(side);
    submit.disabled = true;
    showError(ui.error, "");
    ui.input.removeAttribute("aria-invalid");
    replace(ui.preview);
    ui.bar.hidden = false;
    ui.bar.value = 0;
    ui.status.textContent = `Uploading ${file.name}…`;
    try {
      const created = await api.createUpload(file.name);
      await upload(created.upload, file, (loaded, total) => {
        ui.bar.value = Math.round((loaded / total) * 100);
        ui.status.textContent = `Uploading ${file.name}: ${ui.bar.value}%`;
      });
      ui.bar.value = 100;
      ui.status.textContent = `Uploaded ${file.name}; reading its columns…`;
      files[side] = await api.file(created.file_id);
      ui.status.textContent = describe(files[side]);
      replace(ui.preview, previewTable(files[side]));
    } catch (error) {
      ui.status.textContent = "";
      ui.bar.hidden = true;
      ui.input.setAttribute("aria-invalid", "true");
      // "filename: unsupported file type ..." names the request field: the file is meant.
      showError(ui.error, (error.details || String(error)).replace(/^filename: /, ""));
    } finally {
      uploading.delete(side);
      submit.disabled = uploading.size > 0;
      columnsChanged();
    }
  }

  function columnOptions(selectBox, columns) {
    const kept = selectBox.value;
    replace(selectBox, ...columns.map((c) => h("option", { value: c, selected: c === kept }, c)));
  }

  function columnsChanged() {
    const both = files[1] && files[2];
    addMapping.disabled = !both;
    mappingHint.hidden = Boolean(both);
    if (!both) return;
    for (const row of rows) {
      columnOptions(row.file1, files[1].columns);
      columnOptions(row.file2, files[2].columns);
    }
    if (!rows.length) addRow(guessPair(files[1].columns, files[2].columns));
  }

  function renumber() {
    // Controls and error lines follow the row's index, as the API's field paths do.
    rows.forEach((row, i) => {
      row.box.dataset.field = `config.mappings[${i}]`;
      row.box.querySelector("legend").textContent = `Mapping ${i + 1}`;
      for (const [part, control] of Object.entries(row.controls)) {
        control.closest(".field").dataset.field = `config.mappings[${i}].${part}`;
      }
    });
  }

  function addRow(pair) {
    const i = rows.length;
    const file1 = h("select", {});
    const file2 = h("select", {});
    const type = select([["fuzzy", "fuzzy"], ["exact", "exact"]], "fuzzy");
    const scorer = select(SCORERS.map((s) => [s, s]), "token_sort_ratio");
    const normalize = h("input", { type: "checkbox", checked: true });
    const weight = h("input", { type: "number", step: "any", value: 1, min: 0 });
    type.addEventListener("change", () => (scorer.disabled = type.value === "exact"));
    const id = `map-${crypto.getRandomValues(new Uint32Array(1))[0].toString(36)}`;
    const remove = h("button", { type: "button", class: "small", onclick: () => removeRow(row) }, "Remove");
    const box = group(
      `config.mappings[${i}]`,
      id,
      "fieldset",
      { class: "mapping" },
      h("legend", {}, `Mapping ${i + 1}`),
      h(
        "div",
        { class: "row" },
        field("", `${id}-file1`, "File 1 column", file1),
        field("", `${id}-file2`, "File 2 column", file2),
        field("", `${id}-type`, "Match type", type),
        field("", `${id}-scorer`, "Scorer", scorer),
        field("", `${id}-weight`, "Weight", weight),
        field("", `${id}-normalize`, "Normalise", normalize),
        remove,
      ),
    );
    remove.setAttribute("aria-label", "Remove this mapping");
    const row = { box, file1, file2, type, scorer, normalize, weight, controls: { file1_col: file1, file2_col: file2, match_type: type, scorer, weight, use_normalization: normalize } };
    rows.push(row);
    mappingList.append(box);
    columnOptions(file1, files[1] ? files[1].columns : []);
    columnOptions(file2, files[2] ? files[2].columns : []);
    if (pair) [file1.value, file2.value] = pair;
    renumber();
  }

  function removeRow(row) {
    rows.splice(rows.indexOf(row), 1);
    row.box.remove();
    renumber();
    addMapping.focus();
  }

  const number = (input) => (input.value.trim() === "" ? undefined : Number(input.value));

  function body() {
    const config = {
      file1: files[1] ? files[1].file_id : undefined,
      file2: files[2] ? files[2].file_id : undefined,
      mappings: rows.map((row) => ({
        file1_col: row.file1.value,
        file2_col: row.file2.value,
        match_type: row.type.value,
        ...(row.type.value === "fuzzy" ? { scorer: row.scorer.value } : {}),
        use_normalization: row.normalize.checked,
        weight: number(row.weight),
      })),
      threshold: number(threshold),
      match_mode: mode.value,
      output_format: format.value,
      generate_unmatched: unmatched.checked,
    };
    return { name: name.value, priority: Number(priority.value), config };
  }

  const form = h(
    "form",
    { novalidate: true, id: "submit-form", "aria-labelledby": "submit-title" },
    general,
    // The API is the one judge of what is valid (novalidate): its details land next to
    // the fields below, as they would for any client.
    h(
      "div",
      { class: "row" },
      field("name", "job-name", "Name", name, "Up to 200 characters"),
      field("priority", "job-priority", "Priority", priority),
    ),
    h("div", { class: "files" }, fileSection(1), fileSection(2)),
    group("config.mappings", "mappings", "fieldset", {}, h("legend", {}, "Mappings"), mappingHint, mappingList, addMapping),
    group(
      "config",
      "options",
      "fieldset",
      {},
      h("legend", {}, "Options"),
      h(
        "div",
        { class: "row" },
        field("config.threshold", "job-threshold", "Threshold (0–100)", threshold),
        field("config.match_mode", "job-mode", "Match mode", mode),
        field("config.output_format", "job-format", "Output format", format),
        field("config.generate_unmatched", "job-unmatched", "Also write unmatched rows", unmatched),
      ),
    ),
    h("div", { class: "actions" }, submit, h("a", { href: "#/" }, "Back to jobs")),
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (uploading.size) return;
    clearErrors(form, general);
    submit.disabled = true;
    submit.textContent = "Submitting…";
    try {
      const answer = await api.submit(body(), key);
      go(`#/jobs/${encodeURIComponent(answer.job_id)}`);
    } catch (error) {
      placeErrors(form, general, error.details || String(error));
      submit.disabled = false;
      submit.textContent = "Submit job";
    }
  });

  replace(root, h("h1", { tabindex: -1, id: "submit-title" }, "New job"), form);
  ready();
  return () => {};
}
