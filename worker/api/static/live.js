// Live refresh: while the page shows a job that is not terminal (an element with data-live),
// fetch the page again every few seconds and put its new <main> in place of the old one.
// The new content is this server's own escaped HTML, parsed by DOMParser (which runs no
// script); nothing from a scanned page is ever markup here.
"use strict";
(function () {
  const INTERVAL_MS = 1500;

  function live() {
    return document.querySelector("main [data-live]") !== null;
  }

  async function refresh() {
    try {
      const answer = await fetch(window.location.href, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "text/html" },
      });
      if (answer.ok) {
        const page = new DOMParser().parseFromString(await answer.text(), "text/html");
        const fresh = page.querySelector("main");
        const current = document.querySelector("main");
        if (fresh !== null && current !== null) {
          current.replaceWith(document.adoptNode(fresh));
        }
      }
    } catch (error) {
      // The server may be restarting: try again at the next tick.
    }
    if (live()) {
      window.setTimeout(refresh, INTERVAL_MS);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (live()) {
      window.setTimeout(refresh, INTERVAL_MS);
    }
  });
})();
