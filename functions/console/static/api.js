// The matchq API (docs/api.md) from the page. The console is served by the API itself, so
// the API is on this page's own origin: `api/v1/` next to the console's root, which keeps
// the stage prefix in the cloud (https://<api>/prod/ -> https://<api>/prod/api/v1/).

import { token } from "./session.js";

export const API_BASE = new URL("api/v1/", document.baseURI);

/** An error answer of the API (or of storage); `details` is safe to show. */
export class ApiError extends Error {
  constructor(status, details) {
    super(details);
    this.status = status;
    this.details = details;
  }
}

function url(path, query) {
  const target = new URL(path.replace(/^\//, ""), API_BASE);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") {
      target.searchParams.set(name, value);
    }
  }
  return target;
}

async function errorOf(response) {
  try {
    const body = await response.json();
    if (body && typeof body.details === "string") return new ApiError(response.status, body.details);
  } catch {
    // not the API's error body: fall through
  }
  return new ApiError(response.status, `${response.status} ${response.statusText}`.trim());
}

/**
 * One API call. Resolves to {data, headers}; rejects with ApiError. A 401 with the
 * signed-in token also fires `matchq:unauthorized` on window, so the app returns to the
 * sign-in form (a token being tried, `jwt`, just fails).
 */
export async function call(method, path, { query, body, headers, jwt } = {}) {
  const sent = { Authorization: `Bearer ${jwt || token() || ""}`, ...headers };
  if (body !== undefined) sent["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url(path, query), {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, `The API did not answer (${error.message})`);
  }
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401 && !jwt) {
      window.dispatchEvent(new CustomEvent("matchq:unauthorized", { detail: error.details }));
    }
    throw error;
  }
  const data = response.status === 204 ? null : await response.json();
  return { data, headers: response.headers };
}

export const api = {
  stats: (jwt) => call("GET", "jobs/stats", { jwt }).then((r) => r.data),
  async list({ status, limit, nextToken }) {
    const { data, headers } = await call("GET", "jobs/list", {
      query: { status, limit, next_token: nextToken },
    });
    return { jobs: data, nextToken: headers.get("X-Next-Token") };
  },
  job: (id) => call("GET", `jobs/${encodeURIComponent(id)}`).then((r) => r.data),
  results: (id) => call("GET", `jobs/${encodeURIComponent(id)}/results`).then((r) => r.data),
  cancel: (id) => call("POST", `jobs/${encodeURIComponent(id)}/cancel`).then((r) => r.data),
  remove: (id) => call("DELETE", `jobs/${encodeURIComponent(id)}`).then((r) => r.data),
  createUpload: (filename) => call("POST", "files", { body: { filename } }).then((r) => r.data),
  file: (id) => call("GET", `files/${encodeURIComponent(id)}`).then((r) => r.data),
  submit: (body, idempotencyKey) =>
    call("POST", "jobs/submit", {
      body,
      headers: { "Idempotency-Key": idempotencyKey },
    }).then((r) => r.data),
};

/** S3's XML error message (`<Error><Message>`), read as data, never as markup. */
function storageMessage(xhr) {
  try {
    const xml = new DOMParser().parseFromString(xhr.responseText, "application/xml");
    const message = xml.querySelector("Error > Message");
    if (message) return message.textContent;
  } catch {
    // no XML: the status says it
  }
  return `HTTP ${xhr.status}`;
}

/**
 * POST `file` straight to storage with the presigned form of POST /files: every field,
 * then the file last (S3 needs it last). XMLHttpRequest, not fetch, for upload progress:
 * `onProgress(loaded, total)`. S3 answers 204.
 */
export function upload(form, file, onProgress) {
  return new Promise((resolve, reject) => {
    const data = new FormData();
    for (const [name, value] of Object.entries(form.fields)) data.append(name, value);
    data.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.url);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else reject(new ApiError(xhr.status, `Storage refused the file: ${storageMessage(xhr)}`));
    });
    xhr.addEventListener("error", () =>
      reject(new ApiError(0, "The upload did not reach storage (network error or CORS)")),
    );
    xhr.send(data);
  });
}

/**
 * The first `limit` records of a result file in JSON (an array, one record per line:
 * docs/matching.md), read as a stream: a preview never downloads a big file whole.
 */
export async function firstRecords(downloadUrl, limit) {
  const response = await fetch(downloadUrl, { cache: "no-store" });
  if (!response.ok) throw new ApiError(response.status, `Download failed: HTTP ${response.status}`);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const records = [];
  let text = "";
  let done = false;
  while (!done && records.length < limit) {
    const chunk = await reader.read();
    done = chunk.done;
    text += decoder.decode(chunk.value || new Uint8Array(), { stream: !done });
    const lines = text.split("\n");
    text = done ? "" : lines.pop();
    for (const line of lines) {
      const record = line.trim().replace(/,$/, "");
      if (record.startsWith("{")) records.push(JSON.parse(record));
      if (records.length >= limit) break;
    }
  }
  if (!done) await reader.cancel();
  return records;
}

/** A small JSON file by its presigned URL (summary.json). */
export async function download(downloadUrl) {
  const response = await fetch(downloadUrl, { cache: "no-store" });
  if (!response.ok) throw new ApiError(response.status, `Download failed: HTTP ${response.status}`);
  return response.json();
}
