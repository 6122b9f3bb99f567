// The console's entry: sign-in, the views behind the address fragment (#/, #/new,
// #/jobs/<id>), and how long each view takes to show its first data.
//
// Timings: each view calls ready() once its first data is on the page; that is measured
// (performance.measure "console:<view>") from the navigation start for the page's first
// view, from the link's activation for the others. Tests and benchmarks/bench_console.py
// read them with performance.getEntriesByName.

import { api } from "./api.js";
import { h, replace, showError } from "./dom.js";
import { field } from "./fields.js";
import * as jobPage from "./job.js";
import * as jobsPage from "./jobs.js";
import * as session from "./session.js";
import * as submitPage from "./submit.js";

const main = document.getElementById("main");
const ROUTES = [
  [/^#\/?$/, "jobs", jobsPage],
  [/^#\/new$/, "submit", submitPage],
  [/^#\/jobs\/([^/]+)$/, "job", jobPage],
];

let dispose = () => {};
let firstView = true;
let signedOutBecause = ""; // shown on the sign-in form once

function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function timer(view) {
  const start = firstView ? 0 : performance.now();
  firstView = false;
  return (part) => {
    const name = part ? `console:${view}:${part}` : `console:${view}`;
    performance.measure(name, { start, end: performance.now() });
    document.body.dataset.ready = name; // for tests: the view has its data
  };
}

function showChrome(signedIn) {
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("who").hidden = !signedIn;
  const claims = session.claims() || {};
  const roles = [].concat(claims.roles || []);
  document.getElementById("who-name").textContent = signedIn
    ? `Signed in as ${claims.sub || "?"}${roles.includes("admin") ? " (admin)" : ""}`
    : "";
}

function signInView() {
  const reason = signedOutBecause;
  signedOutBecause = "";
  showChrome(false);
  const input = h("input", { type: "password", autocomplete: "off", spellcheck: "false" });
  const error = h("p", { class: "error", role: "alert", id: "sign-in-error", hidden: true });
  const tokenField = field("token", "token-input", "Token (JWT)", input, "");
  const form = h(
    "form",
    { id: "sign-in", novalidate: true },
    tokenField,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Sign in")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const jwt = input.value.trim();
    const line = tokenField.querySelector(".field-error");
    try {
      await api.stats(jwt); // the API says whether the token is good, and why not
      session.signIn(jwt);
      render();
    } catch (failure) {
      showError(line, failure.details || String(failure));
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  });
  replace(
    main,
    h("h1", {}, "Sign in"),
    error,
    h(
      "p",
      {},
      "Paste a token the API accepts. On the local stack, ",
      h("code", {}, "matchq console"),
      " prints a link that signs you in, and ",
      h("code", {}, "matchq token --user NAME"),
      " prints a token.",
    ),
    form,
  );
  showError(error, reason || "");
  input.focus();
}

function render() {
  dispose();
  dispose = () => {};
  if (!session.token()) {
    signInView();
    return;
  }
  showChrome(true);
  const hash = location.hash || "#/";
  for (const [pattern, view, page] of ROUTES) {
    const match = pattern.exec(hash);
    if (!match) continue;
    for (const link of document.querySelectorAll("#nav a")) {
      link.toggleAttribute("aria-current", link.getAttribute("href") === hash);
    }
    const fromLink = !firstView;
    dispose = page.mount(main, { ready: timer(view), params: match.slice(1).map(decodeURIComponent), go });
    if (fromLink) main.querySelector("h1")?.focus();
    return;
  }
  replace(main, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "Back to the jobs")));
}

function signOut(reason) {
  session.signOut();
  signedOutBecause = reason;
  go("#/");
}

document.getElementById("sign-out").addEventListener("click", () =>
  signOut("Signed out: the token is forgotten in this tab."),
);

// Any 401 (expired token, another deployment's key): back to the sign-in, with the reason.
window.addEventListener("matchq:unauthorized", (event) => signOut(`Signed out: ${event.detail}`));

window.addEventListener("hashchange", () => {
  session.takeTokenFromAddress(); // a #token= link opened in this tab
  render();
});

session.takeTokenFromAddress();
render();
