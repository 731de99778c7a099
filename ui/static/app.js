// WireBuddy's one script, loaded once in <head> (defer) on the first full page load: htmx keeps it across
// boosted navigations, so its document-level listeners are always in place before any content that needs
// them arrives. It only enhances: every page works without it. The CSP allows no inline script.
(() => {
  if (globalThis.wbApp) return;
  globalThis.wbApp = true;

  // --- copy buttons: <button data-copy="ID"> copies the text of the element with that id ------------
  // Deterministic: the text is selected and copied synchronously inside the click (a user gesture), so
  // the outcome is known before the handler returns. Only when that fails is the asynchronous Clipboard
  // API tried; when both fail the text stays selected for a manual copy. The outcome is kept in
  // data-copied ("yes" or "no"); the label says it for two seconds.
  const selectText = (el) => {
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = globalThis.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  };
  const copyBySelection = (el) => {
    selectText(el);
    try {
      return document.execCommand("copy") === true;
    } catch {
      return false;
    }
  };
  const settle = (button, ok) => {
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.dataset.copied = ok ? "yes" : "no";
    button.textContent = ok ? "Copied" : "Select and copy by hand";
    clearTimeout(button.wbTimer);
    button.wbTimer = setTimeout(() => (button.textContent = label), 2000);
  };
  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("button[data-copy]") : null;
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    if (copyBySelection(source)) return settle(button, true);
    const clipboard = navigator.clipboard;
    if (!clipboard || !clipboard.writeText) {
      selectText(source);
      return settle(button, false);
    }
    clipboard.writeText(source.textContent).then(
      () => settle(button, true),
      () => {
        selectText(source);
        settle(button, false);
      },
    );
  });

  // --- the page's <dialog>: opened once htmx has swapped a fragment into it ------------------------
  document.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail && event.detail.target;
    if (target instanceof HTMLDialogElement && !target.open) target.showModal();
  });
})();
