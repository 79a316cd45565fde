// The inbox's JSON API: same-origin fetches with the session cookie, the CSRF token on writes.

let csrf = null;

export function setCsrf(token) {
  csrf = token;
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `request failed (${status})`);
    this.status = status;
    this.code = error.code || "failed";
    this.field = error.field || null;
    this.errors = Array.isArray(error.errors) ? error.errors : [];
  }
}

let onSignedOut = () => {};
export function whenSignedOut(handler) {
  onSignedOut = handler;
}

// Each move to another view counts here. A view's data read (GET) answered after the user left
// that view is never delivered: the view it was for would otherwise draw itself over the one now
// shown. Its promise stays pending, so the old view simply stops; writes are always delivered.
let navigation = 0;
export function navigated() {
  navigation += 1;
}

export async function api(method, path, body, headers = {}) {
  const sentIn = navigation;
  const init = {
    method,
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json", ...headers },
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET" && csrf) init.headers["X-CSRF-Token"] = csrf;
  const response = await fetch(`/api/${path}`, init);
  if (method === "GET" && sentIn !== navigation) {
    response.body?.cancel(); // nothing will read it
    return new Promise(() => {});
  }
  if (response.status === 304) return { data: null, status: 304, etag: response.headers.get("ETag") };
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && !path.startsWith("inbox/signin")) onSignedOut();
    throw error;
  }
  return { data, status: response.status, etag: response.headers.get("ETag") };
}

export const enc = encodeURIComponent;
