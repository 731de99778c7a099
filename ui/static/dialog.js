// Opens the page's <dialog> once htmx has swapped a fragment into it. Loaded as a file because the
// CSP allows no inline script; guarded because a boosted navigation may run it again.
(() => {
  if (globalThis.wbDialog) return;
  globalThis.wbDialog = true;
  document.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail && event.detail.target;
    if (target instanceof HTMLDialogElement && !target.open) target.showModal();
  });
})();
