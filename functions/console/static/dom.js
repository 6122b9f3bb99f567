// Building the page without innerHTML: every value from the API is put in as text.

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (value === true) {
      node.setAttribute(name, "");
    } else {
      node.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An HTML element: h("td", {class: "num"}, "42"). Strings become text nodes. */
export function h(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element, for the histogram. */
export function svg(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Replace the children of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  return fill(node, {}, children);
}

/** Show `message` in an error element (hidden when empty). */
export function showError(node, message) {
  node.textContent = message || "";
  node.hidden = !message;
}

/**
 * Re-render `node`'s content while keeping keyboard focus: the focused element's
 * data-key is remembered, and the element with the same key gets focus back. Live views
 * redraw every few seconds, which must not throw a keyboard user back to the top.
 */
export function redraw(node, render) {
  const active = document.activeElement;
  const key = active && node.contains(active) ? active.dataset.key : undefined;
  render();
  if (key) {
    const again = node.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

const dialog = () => document.getElementById("confirm");

/** Ask before something that cannot be undone; resolves true when confirmed. */
export function confirmAction(text, label) {
  const box = dialog();
  document.getElementById("confirm-text").textContent = text;
  const yes = document.getElementById("confirm-yes");
  const no = document.getElementById("confirm-no");
  yes.textContent = label;
  return new Promise((resolve) => {
    const done = (answer) => {
      yes.removeEventListener("click", onYes);
      no.removeEventListener("click", onNo);
      box.removeEventListener("close", onClose);
      if (box.open) box.close();
      resolve(answer);
    };
    const onYes = () => done(true);
    const onNo = () => done(false);
    const onClose = () => done(false); // Escape closes the dialog: not confirmed
    yes.addEventListener("click", onYes);
    no.addEventListener("click", onNo);
    box.addEventListener("close", onClose);
    box.showModal();
    no.focus();
  });
}
