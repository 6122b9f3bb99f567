// The signed-in token. It lives in sessionStorage: this tab only, gone when the tab closes
// or on sign-out. It is never written to the console, a URL or a log.

const KEY = "matchq.token";

export function token() {
  return sessionStorage.getItem(KEY);
}

export function signIn(jwt) {
  sessionStorage.setItem(KEY, jwt.trim());
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

/**
 * A token handed over in the address, `/#token=<jwt>` (what `matchq console` prints):
 * taken, then removed from the address bar and the history entry at once, so that it
 * is neither bookmarked nor shown. The fragment never reaches a server.
 */
export function takeTokenFromAddress() {
  const match = /^#token=([^&]+)/.exec(location.hash);
  if (!match) return false;
  signIn(decodeURIComponent(match[1]));
  history.replaceState(null, "", `${location.pathname}${location.search}#/`);
  return true;
}

/** The token's claims, for display only (the API verifies the token, not this page). */
export function claims() {
  const jwt = token();
  if (!jwt) return null;
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const text = new TextDecoder().decode(
      Uint8Array.from(atob(part.padEnd(Math.ceil(part.length / 4) * 4, "=")), (c) =>
        c.charCodeAt(0),
      ),
    );
    const data = JSON.parse(text);
    return typeof data === "object" && data !== null ? data : null;
  } catch {
    return null;
  }
}
