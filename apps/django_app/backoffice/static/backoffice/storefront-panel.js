// The "storefront view" panel of a product's admin page: what a customer sees right now,
// asked of the storefront's public API by the browser (same origin under one host; with
// two hosts the storefront must allow this origin: STOREFRONT_CORS_ORIGINS). No framework.
// The panel keeps what it found in data attributes (data-price in cents, data-stock,
// data-active, data-state: loading | shown | hidden | error) for tests and scripts.
(function () {
  "use strict";

  var panel = document.getElementById("storefront-panel");
  if (!panel) {
    return;
  }
  function part(role) {
    return panel.querySelector('[data-role="' + role + '"]');
  }
  function money(cents) {
    return (cents / 100).toLocaleString(undefined, {
      minimumFractionDigits: 2,
      maximumFractionDigits: 2,
    });
  }
  function say(state, text) {
    panel.dataset.state = state;
    part("status").textContent = text;
  }

  fetch(panel.dataset.endpoint, {
    headers: { Accept: "application/json" },
    credentials: "omit", // public data: no cookie goes to the storefront for it
    cache: "no-store",
  })
    .then(function (response) {
      if (response.status === 404) {
        panel.dataset.active = "false";
        part("product").hidden = true;
        say("hidden", "Customers do not see this product (it is inactive).");
        return;
      }
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.json().then(function (product) {
        part("price").textContent = money(product.price_cents);
        part("stock").textContent = String(product.stock);
        part("active").textContent = "yes";
        part("product").hidden = false;
        panel.dataset.price = String(product.price_cents);
        panel.dataset.stock = String(product.stock);
        panel.dataset.active = "true";
        say("shown", "Customers see, now:");
      });
    })
    .catch(function (error) {
      say("error", "The storefront did not answer (" + error.message + ").");
    });
})();
