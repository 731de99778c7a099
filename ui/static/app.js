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

  // --- bulk selection in the peers list: "select all" ticks every box on the page --------------------
  document.addEventListener("change", (event) => {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || box.type !== "checkbox") return;
    if (box.classList.contains("select-all")) {
      for (const row of document.querySelectorAll('input[name="ids"][form="peer-bulk"]')) {
        row.checked = box.checked;
        const tr = row.closest("tr");
        if (tr) tr.classList.toggle("selected", box.checked);
      }
    } else if (box.name === "ids") {
      const tr = box.closest("tr");
      if (tr) tr.classList.toggle("selected", box.checked);
    }
  });

  // --- theme: light, dark or auto, remembered per browser (boot.js applies it before the first paint) --
  const root = document.documentElement;
  const storedTheme = () => {
    try {
      return localStorage.getItem("wb-theme") || "auto";
    } catch {
      return "auto";
    }
  };
  const showTheme = () => {
    const current = storedTheme();
    for (const input of document.querySelectorAll('input[name="wb-theme"]')) {
      input.checked = input.value === current;
    }
  };
  document.addEventListener("change", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || input.name !== "wb-theme") return;
    try {
      if (input.value === "auto") localStorage.removeItem("wb-theme");
      else localStorage.setItem("wb-theme", input.value);
    } catch {
      // storage disabled: the choice lasts for this page only
    }
    if (input.value === "auto") delete root.dataset.theme;
    else root.dataset.theme = input.value;
  });

  // --- the phone menu: a drawer opened by the Menu button, closed by Escape or a tap outside ---------
  const setNav = (open) => {
    const nav = document.getElementById("sidenav");
    const button = document.querySelector(".menu-button");
    const scrim = document.querySelector(".scrim");
    if (!nav || !button) return;
    nav.classList.toggle("open", open);
    button.setAttribute("aria-expanded", String(open));
    if (scrim) scrim.hidden = !open;
    if (open) {
      const first = nav.querySelector("a");
      if (first) first.focus();
    }
  };
  document.addEventListener("click", (event) => {
    const el = event.target instanceof Element ? event.target : null;
    if (!el) return;
    const button = el.closest(".menu-button");
    if (button) return setNav(button.getAttribute("aria-expanded") !== "true");
    if (el.closest(".scrim")) setNav(false);
  });
  document.addEventListener("keydown", (event) => {
    const nav = document.getElementById("sidenav");
    if (event.key !== "Escape" || !nav || !nav.classList.contains("open")) return;
    setNav(false);
    const button = document.querySelector(".menu-button");
    if (button) button.focus();
  });

  // --- a loading bar while any htmx request runs (pollers marked data-quiet do not count) ------------
  const running = new WeakSet();
  let pending = 0;
  const busy = (delta) => {
    pending = Math.max(0, pending + delta);
    root.classList.toggle("busy", pending > 0);
  };
  document.addEventListener("htmx:beforeRequest", (event) => {
    const d = event.detail;
    if (!d || !d.xhr || (d.elt instanceof Element && d.elt.closest("[data-quiet]"))) return;
    running.add(d.xhr);
    busy(1);
  });
  for (const name of ["htmx:afterRequest", "htmx:sendError", "htmx:timeout", "htmx:sendAbort"]) {
    document.addEventListener(name, (event) => {
      const d = event.detail;
      if (d && d.xhr && running.delete(d.xhr)) busy(-1);
    });
  }

  showTheme();
  document.addEventListener("htmx:afterSettle", showTheme);
})();
