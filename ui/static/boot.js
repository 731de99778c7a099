// Runs in <head> before the first paint: marks that scripts run (the CSS then turns the phone menu into
// a drawer) and applies the theme this browser chose (light or dark; auto follows the system).
(() => {
  const root = document.documentElement;
  root.classList.add("js");
  let theme = null;
  try {
    theme = localStorage.getItem("wb-theme");
  } catch {
    // storage disabled: follow the system
  }
  if (theme === "light" || theme === "dark") root.dataset.theme = theme;
})();
