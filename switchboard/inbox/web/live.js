// New activity without a reload: a view asks again every few seconds with the validator of
// what it shows (If-None-Match); the app answers 304, with nothing to read, while nothing
// moved. The poll stops when its view leaves the page and waits while the tab is hidden.
import { api } from "./api.js";

export const POLL_MS = 4000;

export function poll(root, path, etag, onChange) {
  let validator = etag;
  let timer = null;
  const tick = async () => {
    if (!root.isConnected) return;
    if (!document.hidden) {
      try {
        const answer = await api("GET", path, undefined, validator ? { "If-None-Match": validator } : {});
        if (!root.isConnected) return;
        if (answer.status !== 304) {
          validator = answer.etag;
          await onChange(answer.data);
        }
      } catch (error) {
        if (error.status === 401 || error.status === 404) return;
      }
    }
    timer = setTimeout(tick, POLL_MS);
  };
  timer = setTimeout(tick, POLL_MS);
  return {
    forget() { validator = null; },
    stop() { clearTimeout(timer); },
  };
}
