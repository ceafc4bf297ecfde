// The bearer token (sessionStorage) and the login dialog.
import { t } from '../i18n.js';
import { $ } from './dom.js';

const TOKEN_KEY = 'yiban.token';

/** #token=… in the address → sessionStorage, and the fragment is removed from the address bar. */
export function takeTokenFromFragment() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return;
  try { sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1])); } catch { /* ignore */ }
  history.replaceState(null, '', location.pathname + location.search);
}
export const getToken = () => { try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; } };

let loginShown = false;
let onSignOut = () => {};
/** What showLogin does first: the app stops its view (and the view's stream). */
export function setSignOutHandler(fn) { onSignOut = fn; }
export function showLogin(message = '') {
  onSignOut();
  try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* ignore */ }
  const dlg = $('login');
  $('login-title').textContent = t('login_title');
  $('login-token-label').textContent = t('login_token');
  $('login-submit').textContent = t('login_submit');
  $('login-message').textContent = message;
  if (!loginShown) {
    loginShown = true;
    if (typeof dlg.showModal === 'function') dlg.showModal(); else dlg.setAttribute('open', '');
  }
}
export function wireLogin(onSignIn) {
  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const tok = $('login-token').value.trim();
    if (!tok) return;
    try { sessionStorage.setItem(TOKEN_KEY, tok); } catch { /* ignore */ }
    $('login-token').value = '';
    $('login').close?.();
    $('login').removeAttribute('open');
    loginShown = false;
    onSignIn();
  });
}
