// The API client: JSON (and file) requests with the bearer token; a 401 shows the login form.
import { t } from '../i18n.js';
import { getToken, showLogin } from './auth.js';

export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

/** fetch JSON with the bearer token; a 401 shows the login form with the server's message. */
export async function api(path, { method = 'GET', body } = {}) {
  // Signed out (a 401 already showed the login form): send nothing until a new token is entered.
  if (!getToken()) throw new ApiError(401, 'unauthorized', t('login_required'));
  const headers = { Authorization: `Bearer ${getToken()}`, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'network', String(e.message || e));
  }
  let data = null;
  const text = await res.text();
  if (text) { try { data = JSON.parse(text); } catch { data = null; } }
  if (!res.ok) {
    const code = data?.error?.code || `http_${res.status}`;
    const message = data?.error?.message || `${res.status} ${res.statusText}`;
    if (res.status === 401) showLogin(message);
    throw new ApiError(res.status, code, message);
  }
  return data;
}
/** A file with the bearer token (the material downloads); errors as api(). */
export async function apiBlob(path) {
  if (!getToken()) throw new ApiError(401, 'unauthorized', t('login_required'));
  let res;
  try {
    res = await fetch(path, { headers: { Authorization: `Bearer ${getToken()}` }, cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'network', String(e.message || e));
  }
  if (!res.ok) {
    let data = null;
    try { data = JSON.parse(await res.text()); } catch { data = null; }
    const message = data?.error?.message || `${res.status} ${res.statusText}`;
    if (res.status === 401) showLogin(message);
    throw new ApiError(res.status, data?.error?.code || `http_${res.status}`, message);
  }
  return res.blob();
}
export const enc = encodeURIComponent;
