/*
 * Búsqueda del sitio con el motor de kb (la misma que el panel y `kb search`).
 *
 * Si el sitio se sirve junto con la API en el mismo origen (`kb api`), lo que se escribe en
 * el buscador de la cabecera se envía a /api/search (POST: la consulta va en el cuerpo, que
 * ningún registro de acceso guarda) y los resultados se muestran con el marcado de la lista de
 * mkdocs-material (.md-search-result__list), enlazando a la sección exacta.
 * Solo se pregunta a la API si /api/health dice que no pide token (`token_required`): publicada
 * con inicio de sesión, la página no tiene token y cada consulta acabaría en un 401, así que lo
 * que el lector escribe no sale del navegador. Sin API (sitio estático), tampoco: responde la
 * búsqueda integrada.
 */
(function () {
  "use strict";

  var DEBOUNCE_MS = 250;
  var RESULTS = 5;
  var SNIPPET = 220;
  var api = null; // null: unknown; true/false once /api/health answered
  var current = { query: "", items: null, meta: "" };
  var timer = null;
  var seq = 0;

  function endpoint(path) {
    return new URL(path, window.location.origin).href;
  }

  // Once known, said on <html data-kb-engine="on|off"> (for whoever checks what the page does).
  function decide(value) {
    api = value;
    document.documentElement.setAttribute("data-kb-engine", value ? "on" : "off");
    return value;
  }

  // An API that wants a token is final: this page has none. 503 (index loading) is asked again
  // later; no API at all (404, not JSON, network error) is final.
  function checkApi() {
    if (api !== null) return Promise.resolve(api);
    return fetch(endpoint("/api/health"), { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.json().then(
          function (body) {
            var open = !!body && body.token_required === false;
            if (!open || (!r.ok && r.status !== 503)) return decide(false);
            return r.ok ? decide(true) : false;
          },
          function () {
            return decide(false);
          }
        );
      })
      .catch(function () {
        return decide(false);
      });
  }

  function local(url) {
    var u = new URL(url, window.location.href);
    return u.origin === window.location.origin ? u.href : window.location.origin + u.pathname + u.search + u.hash;
  }

  function snippet(text) {
    var flat = String(text || "").replace(/\s+/g, " ").trim();
    return flat.length > SNIPPET ? flat.slice(0, SNIPPET).replace(/\s+\S*$/, "") + "…" : flat;
  }

  // Same nodes mkdocs-material builds for a result (bundle: function Fn / oo).
  function item(result) {
    var li = document.createElement("li");
    li.className = "md-search-result__item";
    li.setAttribute("data-kb-engine", "");
    var a = document.createElement("a");
    a.className = "md-search-result__link";
    a.href = local(result.url);
    a.tabIndex = -1;
    var article = document.createElement("article");
    article.className = "md-search-result__article md-typeset";
    article.setAttribute("data-md-score", Number(result.score || 0).toFixed(2));
    var icon = document.createElement("div");
    icon.className = "md-search-result__icon md-icon";
    var h1 = document.createElement("h1");
    h1.textContent = result.heading;
    var p = document.createElement("p");
    p.textContent = result.title + " · " + snippet(result.action || result.text); // what to do first, as in the panel
    article.append(icon, h1, p);
    a.appendChild(article);
    li.appendChild(a);
    return li;
  }

  function render() {
    var list = document.querySelector(".md-search-result__list");
    var meta = document.querySelector(".md-search-result__meta");
    if (!list || !current.items) return;
    list.replaceChildren.apply(list, current.items.map(item));
    list.setAttribute("role", "list");
    list.hidden = false;
    if (meta) meta.textContent = current.meta;
  }

  function search(query) {
    var mine = ++seq;
    checkApi().then(function (ok) {
      if (!ok || mine !== seq) return;
      return fetch(endpoint("/api/search"), {
        method: "POST",
        headers: { Accept: "application/json", "Content-Type": "application/json" },
        body: JSON.stringify({ q: query, k: RESULTS }),
      })
        .then(function (r) {
          return r.ok ? r.json() : null;
        })
        .then(function (data) {
          if (!data || mine !== seq) return;
          var n = data.results.length;
          current = {
            query: query,
            items: data.results,
            meta: data.low_confidence
              ? "No encuentro nada fiable; lo más parecido:"
              : n === 1 ? "1 resultado del motor de búsqueda" : n + " resultados del motor de búsqueda",
          };
          render();
        });
    }).catch(function () { /* the built-in search keeps answering */ });
  }

  function start() {
    var input = document.querySelector("[data-md-component=search-query]");
    var list = document.querySelector(".md-search-result__list");
    if (!input || !list) return;
    checkApi();
    input.addEventListener("input", function () {
      var query = input.value.trim();
      clearTimeout(timer);
      if (!query) {
        seq++;
        current = { query: "", items: null, meta: "" };
        return;
      }
      timer = setTimeout(function () { search(query); }, DEBOUNCE_MS);
    });
    // mkdocs-material re-renders its own results on every keystroke and while scrolling:
    // when its items replace ours for the query we answered, put ours back.
    new MutationObserver(function () {
      if (!current.items || input.value.trim() !== current.query) return;
      var first = list.firstElementChild;
      var foreign = Array.prototype.some.call(list.children, function (li) {
        return !li.hasAttribute("data-kb-engine");
      });
      if (!first || foreign) render();
    }).observe(list, { childList: true });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
