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

export async function api(method, path, body, headers = {}) {
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
