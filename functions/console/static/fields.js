// Labelled form fields, and the API's 400 details put next to the field they name.
//
// A 400's details name fields by their path in the request body, several separated by
// "; ": `name: must not be blank; config.mappings[0].weight: Input should be greater
// than 0`. Each control carries that path in data-field; a path with no control of its
// own goes to its nearest parent (config.mappings[0].x -> the mapping's row), and what
// names no field at all goes to the form's own error line.

import { h, showError } from "./dom.js";

/** A <div class="field"> with a label, the control and its error line. */
export function field(path, id, label, control, hint) {
  control.id = id;
  control.setAttribute("aria-describedby", `${id}-error${hint ? ` ${id}-hint` : ""}`);
  return h(
    "div",
    { class: "field", "data-field": path },
    h("label", { for: id }, label),
    control,
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
    h("p", { class: "field-error", id: `${id}-error`, hidden: true }),
  );
}

/** A group of fields with an error line of its own (a mapping row, the mappings list). */
export function group(path, id, tag, attrs, ...children) {
  return h(
    tag,
    { ...attrs, class: `${attrs.class || ""} group`.trim(), "data-field": path, id },
    ...children,
    h("p", { class: "field-error", id: `${id}-error`, hidden: true }),
  );
}

function parent(path) {
  if (path.endsWith("]")) return path.replace(/\[\d+\]$/, "");
  const dot = path.lastIndexOf(".");
  return dot < 0 ? "" : path.slice(0, dot);
}

function ownError(box) {
  return [...box.children].find((child) => child.classList.contains("field-error"));
}

export function clearErrors(form, general) {
  for (const line of form.querySelectorAll(".field-error")) showError(line, "");
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  showError(general, "");
}

/** Show `details` next to the fields they name; focus the first one. */
export function placeErrors(form, general, details) {
  clearErrors(form, general);
  const unplaced = [];
  let first = null;
  for (const part of details.split("; ")) {
    const named = /^([A-Za-z_][\w.[\]]*): ([\s\S]+)$/.exec(part);
    let box = null;
    let path = named ? named[1] : "";
    while (path && !box) {
      box = form.querySelector(`[data-field="${CSS.escape(path)}"]`);
      if (!box) path = parent(path);
    }
    const line = box && ownError(box);
    if (!line) {
      unplaced.push(part);
      continue;
    }
    // At the field itself the field's name goes without saying; at a parent it does not.
    const message = path === named[1] ? named[2] : part;
    showError(line, line.textContent ? `${line.textContent}; ${message}` : message);
    const control = box.querySelector("input, select, textarea, button") || box;
    if (box.classList.contains("field")) control.setAttribute("aria-invalid", "true");
    first = first || control;
  }
  showError(general, unplaced.join("; "));
  if (first) first.focus();
  else if (unplaced.length) general.focus();
}
