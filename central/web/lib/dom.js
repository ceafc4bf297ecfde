// The page's shared DOM helpers: element by id, the toast line.

export const $ = (id) => document.getElementById(id);

let toastTimer = null;
export function toast(message, isError = false) {
  const el = $('toast');
  el.textContent = message;
  el.className = isError ? 'toast err' : 'toast';
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, isError ? 6000 : 2500);
}
