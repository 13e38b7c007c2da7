/* The practice page («Práctica»): drills built from the guides at build time (kb/site/practice.py),
   run here from the page's own JSON, with no server. Progress lives in localStorage.

   Keyboard first: every choice is a native radio group inside a fieldset, every action a button;
   focus moves to what comes next (the drill's heading, the second question, «Siguiente») and the
   verdicts are read out from aria-live regions. Everything shown is set as text, never as HTML. */
(function () {
  "use strict";

  var KEY = "kb-practica";
  var ROUND = 10;
  var root = document.getElementById("kb-practica");
  var source = document.getElementById("kb-practica-datos");
  if (!root || !source) return;
  var data = JSON.parse(source.textContent);
  var sets = {};
  data.sets.forEach(function (set) { sets[set.key] = set; });
  var stored = true;
  var state = load();

  /* ------------------------------------------------------------------ state */

  function fresh() {
    return { v: 1, stats: {}, review: {}, cursor: {}, round: null };
  }

  function load() {
    try {
      var raw = window.localStorage.getItem(KEY);
      var parsed = raw ? JSON.parse(raw) : null;
      return parsed && parsed.v === 1 ? parsed : fresh();
    } catch (e) {
      stored = false;
      return fresh();
    }
  }

  function save() {
    try {
      window.localStorage.setItem(KEY, JSON.stringify(state));
    } catch (e) {
      stored = false;
    }
  }

  function drillIndex(id) {
    for (var i = 0; i < data.drills.length; i++) if (data.drills[i].id === id) return i;
    return -1;
  }

  /* A round: cards to review first (at most half), then the set in order from where the last round stopped. */
  function newRound(key) {
    var set = sets[key];
    var picked = [];
    set.drills.forEach(function (n) {
      if (picked.length < ROUND / 2 && state.review[data.cards[data.drills[n].card].id]) picked.push(n);
    });
    var start = state.cursor[key] || 0;
    var step = 0;
    while (picked.length < Math.min(ROUND, set.drills.length) && step < set.drills.length) {
      var n = set.drills[(start + step) % set.drills.length];
      if (picked.indexOf(n) < 0) picked.push(n);
      step++;
    }
    state.cursor[key] = (start + step) % set.drills.length;
    state.round = { set: key, ids: picked.map(function (n) { return data.drills[n].id; }), pos: 0, right: 0, missed: [] };
    save();
  }

  function record(drill, ok) {
    var card = data.cards[drill.card];
    var page = data.guides[card.guide].page;
    var stats = state.stats[page] || (state.stats[page] = { answered: 0, right: 0 });
    stats.answered++;
    var round = state.round;
    if (ok) {
      stats.right++;
      round.right++;
      delete state.review[card.id];
    } else {
      state.review[card.id] = true;
      if (round.missed.indexOf(card.id) < 0) round.missed.push(card.id);
    }
    round.pos++;
    save();
  }

  /* ------------------------------------------------------------------ DOM helpers */

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else if (name === "onclick") { if (attrs[name]) node.addEventListener("click", attrs[name]); }
      else node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function button(text, action, primary, type) {
    var cls = "md-button" + (primary ? " md-button--primary" : "");
    return el("button", { type: type || "button", class: cls, text: text, onclick: action });
  }

  /* A question: its radio group and a «Comprobar» submit button (Enter on a radio answers too). */
  function form(fieldset, check) {
    var submit = button("Comprobar", null, true, "submit");
    var node = el("form", { class: "kb-practica__pregunta" }, [fieldset, submit]);
    node.addEventListener("submit", function (event) {
      event.preventDefault();
      if (check()) submit.remove();
    });
    return node;
  }

  function cardLink(card) {
    var guide = data.guides[card.guide];
    return el("a", { href: card.url, text: card.title + " (" + guide.title + ")" });
  }

  function show(nodes, focus) {
    root.replaceChildren.apply(root, nodes);
    if (focus) focus.focus();
  }

  /* ------------------------------------------------------------------ home: choose, and the progress */

  function choice(id, label, keys, startLabel) {
    var select = el("select", { id: id });
    keys.forEach(function (set) {
      select.appendChild(el("option", { value: set.key, text: set.label + " (" + set.drills.length + ")" }));
    });
    return el("div", { class: "kb-practica__eleccion" }, [
      el("label", { for: id, text: label }),
      select,
      button(startLabel, function () { begin(select.value); }),
    ]);
  }

  function home(message) {
    var byGuide = data.sets.filter(function (s) { return s.key.indexOf("guia:") === 0; });
    var byFase = data.sets.filter(function (s) { return s.key.indexOf("fase:") === 0; });
    var title = el("h2", { id: "kb-practica-elige", tabindex: "-1", text: "Elige qué practicar" });
    var nodes = [title];
    var round = state.round;
    if (round && round.pos < round.ids.length) {
      nodes.push(el("div", { class: "kb-practica__eleccion" }, [
        el("p", { text: "Tienes una tanda a medias (" + sets[round.set].label + "): vas por el ejercicio "
          + (round.pos + 1) + " de " + round.ids.length + "." }),
        button("Seguir con la tanda", drill, true),
      ]));
    }
    nodes.push(el("div", { class: "kb-practica__eleccion" }, [
      el("p", { text: "Repaso de la primera semana: una situación de cada tarjeta, en el orden de lectura de «Empieza aquí»." }),
      button("Empezar el repaso de la primera semana", function () { begin("semana"); }, !round),
    ]));
    nodes.push(choice("kb-practica-guia", "Practicar una guía", byGuide, "Practicar esta guía"));
    nodes.push(choice("kb-practica-fase", "Practicar una fase de la llamada", byFase, "Practicar esta fase"));
    nodes.push(progress(message));
    show(nodes, message ? title : null);
  }

  function progress(message) {
    var section = el("section", { class: "kb-practica__progreso", "aria-labelledby": "kb-practica-progreso" }, [
      el("h2", { id: "kb-practica-progreso", text: "Tu progreso" }),
    ]);
    var list = el("ul", {});
    data.guides.forEach(function (guide, g) {
      var stats = state.stats[guide.page];
      if (!stats) return;
      var review = data.cards.filter(function (c) { return c.guide === g && state.review[c.id]; });
      var item = el("li", {}, [
        el("strong", { text: guide.title }),
        document.createTextNode(": " + stats.right + " aciertos de " + stats.answered + " ejercicios."),
      ]);
      if (review.length) {
        var links = el("ul", { class: "kb-practica__repasar" });
        review.forEach(function (card) { links.appendChild(el("li", {}, [cardLink(card)])); });
        item.appendChild(el("span", { text: " Para repasar:" }));
        item.appendChild(links);
      }
      list.appendChild(item);
    });
    section.appendChild(list.children.length ? list : el("p", { text: "Todavía no has hecho ningún ejercicio." }));
    if (!stored) section.appendChild(el("p", { text: "Este navegador no deja guardar el progreso: se perderá al cerrar la página." }));
    section.appendChild(el("p", { class: "kb-practica__aviso", role: "status", text: message || "" }));
    section.appendChild(button("Empezar de nuevo", restart));
    return section;
  }

  function restart() {
    if (!window.confirm("¿Borrar tu progreso y empezar de nuevo?")) return;
    state = fresh();
    try { window.localStorage.removeItem(KEY); } catch (e) { stored = false; }
    home("Progreso borrado: puedes empezar de cero.");
  }

  function begin(key) {
    newRound(key);
    drill();
  }

  /* ------------------------------------------------------------------ one drill */

  function question(name, legend, items, labelOf) {
    var fieldset = el("fieldset", {}, [el("legend", { text: legend })]);
    items.forEach(function (item, i) {
      var id = name + "-" + i;
      fieldset.appendChild(el("div", { class: "kb-practica__opcion" }, [
        el("input", { type: "radio", name: name, id: id, value: String(i) }),
        el("label", { for: id, text: labelOf(item) }),
      ]));
    });
    return fieldset;
  }

  function picked(fieldset) {
    var checked = fieldset.querySelector("input:checked");
    return checked ? Number(checked.value) : -1;
  }

  function mark(fieldset, right, chosen) {
    fieldset.disabled = true;
    fieldset.querySelectorAll(".kb-practica__opcion").forEach(function (row, i) {
      if (i === right) row.classList.add("kb-practica__opcion--correcta");
      else if (i === chosen) row.classList.add("kb-practica__opcion--fallo");
      var label = row.querySelector("label");
      if (i === right) label.appendChild(el("span", { class: "kb-practica__nota", text: " — respuesta correcta" }));
      else if (i === chosen) label.appendChild(el("span", { class: "kb-practica__nota", text: " — tu respuesta" }));
    });
  }

  function verdict(box, ok, lines) {
    box.replaceChildren();
    box.className = "kb-practica__porque " + (ok ? "kb-practica__porque--bien" : "kb-practica__porque--mal");
    box.appendChild(el("p", { class: "kb-practica__veredicto", text: ok ? "✔ Correcto." : "✘ No es esa." }));
    lines.forEach(function (line) { box.appendChild(line); });
  }

  function drill() {
    var round = state.round;
    if (!round || round.pos >= round.ids.length) return result();
    var n = drillIndex(round.ids[round.pos]);
    if (n < 0) { round.pos++; save(); return drill(); }  // a drill gone since the last build
    var d = data.drills[n];
    var card = data.cards[d.card];
    var name = "kb-practica-" + d.id;
    var heading = el("h2", { id: "kb-practica-ejercicio", tabindex: "-1",
      text: "Ejercicio " + (round.pos + 1) + " de " + round.ids.length });
    var what = question(name + "-haces", "¿Qué haces?", d.options, function (o) { return data.cards[o].label; });
    var why1 = el("div", { class: "kb-practica__porque", "aria-live": "polite" });
    var second = el("div", {});
    var why2 = el("div", { class: "kb-practica__porque", "aria-live": "polite" });
    var next = el("div", {});
    var cardOk = false;

    function checkCard() {
      var chosen = picked(what);
      if (chosen < 0) { why1.textContent = "Elige una opción con las flechas y pulsa «Comprobar»."; return false; }
      var right = d.options.indexOf(d.card);
      cardOk = chosen === right;
      mark(what, right, chosen);
      verdict(why1, cardOk, [
        el("p", { text: (cardOk ? "" : "Lo que toca es «" + card.label + "». ") + "La tarjeta dice: " + card.action }),
        el("p", {}, [document.createTextNode("Léela entera: "), cardLink(card)]),
      ]);
      if (d.phrases.length) askPhrase(); else finish(cardOk);
      return true;
    }

    function askPhrase() {
      var say = question(name + "-dices", "¿Qué dices?", d.phrases, function (p) { return data.cards[p[0]][p[1]][p[2]]; });
      function checkPhrase() {
        var chosen = picked(say);
        if (chosen < 0) { why2.textContent = "Elige una frase con las flechas y pulsa «Comprobar»."; return false; }
        var right = -1;
        d.phrases.forEach(function (p, i) { if (p[1] === "say") right = i; });
        var ok = chosen === right;
        mark(say, right, chosen);
        var said = d.phrases[chosen];
        var from = data.cards[said[0]];
        var lines = [el("p", { text: ok
          ? "Es una frase de «Decir» de esta tarjeta: ayuda a que la conversación avance."
          : "«" + from[said[1]][said[2]] + "» está en «Evitar» de «" + from.title + "»: empeora la conversación." })];
        verdict(why2, ok, lines);
        finish(cardOk && ok);
        return true;
      }
      second.replaceChildren(form(say, checkPhrase));
      say.querySelector("input").focus();
    }

    function finish(ok) {
      record(d, ok);
      var last = round.pos >= round.ids.length;
      var go = button(last ? "Ver el resultado" : "Siguiente ejercicio", drill, true);
      next.replaceChildren(go);
      go.focus();
    }

    show([
      heading,
      el("p", { class: "kb-practica__tanda", text: sets[round.set].label + " · aciertos en esta tanda: " + round.right }),
      el("p", { class: "kb-practica__rotulo", text: d.kind === "escenario" ? "Situación propuesta por formación:" : "Situación:" }),
      el("blockquote", { class: "kb-practica__situacion" }, [el("p", { text: d.situation })]),
      form(what, checkCard),
      why1, second, why2, next,
      el("p", {}, [button("Dejar la tanda y volver", function () { home(""); })]),
    ], heading);
  }

  /* ------------------------------------------------------------------ the round's result */

  function result() {
    var round = state.round;
    var heading = el("h2", { id: "kb-practica-resultado", tabindex: "-1",
      text: "Resultado: " + round.right + " de " + round.ids.length });
    var nodes = [heading, el("p", { text: "Has acertado " + round.right + " de " + round.ids.length
      + " ejercicios (qué haces y qué dices) de «" + sets[round.set].label + "»." })];
    nodes.push(el("h3", { text: "Tarjetas para repasar" }));
    if (round.missed.length) {
      var list = el("ul", { class: "kb-practica__repasar" });
      data.cards.forEach(function (card) { if (round.missed.indexOf(card.id) >= 0) list.appendChild(el("li", {}, [cardLink(card)])); });
      nodes.push(list);
    } else {
      nodes.push(el("p", { text: "Ninguna: todo correcto en esta tanda." }));
    }
    var key = round.set;
    nodes.push(el("p", { class: "kb-practica__botones" }, [
      button("Otra tanda", function () { begin(key); }, true),
      button("Elegir otra práctica", function () { home(""); }),
    ]));
    nodes.push(progress(""));
    show(nodes, heading);
  }

  if (!data.drills.length) {
    show([el("p", { text: "Todavía no hay ejercicios: las guías no tienen situaciones que practicar." })]);
  } else if (state.round && state.round.pos >= state.round.ids.length && state.round.ids.length) {
    result();
  } else {
    home("");
  }
})();
