// Copy buttons: <button data-copy="ID"> copies the text of the element with that id and says so.
// Loaded as a file because the CSP allows no inline script; guarded because a boosted navigation may
// run it again.
(() => {
  if (globalThis.wbCopy) return;
  globalThis.wbCopy = true;
  const fallback = (el) => {
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = globalThis.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    return document.execCommand("copy");
  };
  document.addEventListener("click", async (event) => {
    const button = event.target instanceof Element ? event.target.closest("button[data-copy]") : null;
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    let ok = false;
    try {
      // A clipboard that never answers (no permission, no focus) must not leave the button hanging.
      await Promise.race([
        navigator.clipboard.writeText(source.textContent),
        new Promise((_, reject) => setTimeout(() => reject(new Error("clipboard timeout")), 1500)),
      ]);
      ok = true;
    } catch {
      ok = fallback(source);
    }
    button.dataset.copied = ok ? "yes" : "no";
    button.textContent = ok ? "Copied" : "Select and copy by hand";
    setTimeout(() => (button.textContent = label), 2000);
  });
})();
