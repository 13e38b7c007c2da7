"""The panel's own CSS and its one script: keyboard shortcuts, copy buttons, focus on load.

Static text only (nothing from users or guides goes in here), injected once per run with
`st.html`. The script guards itself so a rerun never installs a second set of listeners.
Shortcuts: «/» puts the cursor in the search box from anywhere; Alt+1/2/3 copies the
first Decir phrase of result 1/2/3 (`event.code`, so it works on layouts where Alt+1
types a character).
"""

from __future__ import annotations

SEARCH_LABEL = "¿Qué está pasando en la llamada?"
HINT = "Atajos: / buscar · Alt+1, Alt+2, Alt+3 copian la primera frase del resultado 1, 2, 3"

STYLE = """<style>
.block-container {max-width: 900px; padding-top: 3.6rem; padding-bottom: 1rem;}
div[data-testid="InputInstructions"] {display: none;}
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p {color: #5c5f66 !important; opacity: 1;}
[data-testid="stAppDeployButton"], [data-testid="stMainMenu"] {display: none;}
.st-key-quick [data-testid="stButton"] button {min-height: 2rem; padding: .1rem .5rem;}
[data-testid="stMainBlockContainer"] > [data-testid="stVerticalBlock"] {gap: .6rem;}
.st-key-quick, .st-key-quick [data-testid="stVerticalBlock"],
.st-key-quick [data-testid="stHorizontalBlock"] {gap: .35rem;}
.st-key-card-1, .st-key-card-1 [data-testid="stVerticalBlock"] {gap: .3rem;}
.st-key-card-1 {padding: .5rem .9rem !important;}
.st-key-card-1 [data-testid="stMarkdownContainer"] p {margin-bottom: .2rem;}
.st-key-card-1 [data-testid="stButton"] button, .st-key-card-1 [data-testid="stLinkButton"] a {min-height: 1.9rem;
  padding-top: 0; padding-bottom: 0;}
[data-testid="stExpander"] details summary {padding-top: .35rem; padding-bottom: .35rem;}
.kb-echo {display: flex; justify-content: space-between; gap: 1rem; min-height: 1.4rem;
  font-size: .8rem; color: #4a4f5a; margin: 0;}
.kb-echo .kb-query {overflow: hidden; text-overflow: ellipsis; white-space: nowrap;}
.kb-echo .kb-hint {white-space: nowrap;}
.kb-phrases p.kb-label {margin: .1rem 0 .15rem; font-weight: 600; font-size: .9rem;}
.kb-say-label {color: #1e6b34;}
.kb-avoid-label {color: #a61b1b;}
.kb-phrases ul {list-style: none; padding: 0; margin: 0 0 .3rem;}
.kb-phrase {display: flex; align-items: flex-start; gap: .5rem; padding: .2rem .4rem; margin: 0 0 .2rem;
  border-left: 3px solid #2e8b57; background: #f3f8f4; border-radius: .25rem;}
.kb-phrase .kb-text {flex: 1; line-height: 1.35;}
.kb-copy {flex: none; font-size: .8rem; padding: .05rem .5rem; border: 1px solid #1e6b34; color: #1e6b34;
  background: #ffffff; border-radius: .3rem; cursor: pointer;}
.kb-copy:hover, .kb-copy:focus-visible {background: #1e6b34; color: #ffffff;}
.kb-avoid li {color: #8a1616; text-decoration: line-through; margin: 0 0 .1rem .4rem; line-height: 1.3;}
.kb-avoid li::before {content: "✘ "; text-decoration: none;}
.kb-slot {background: #fff1b8; color: #4d3800; border-radius: .2em; padding: 0 .2em; font-weight: 600;
  white-space: nowrap;}
.kb-sr {position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap;}
</style>"""

SCRIPT = """<script>
(() => {
  if (window.__kbKeys) return;
  window.__kbKeys = true;
  const doc = window.document;
  const BOX = 'input[aria-label="%(label)s"]';
  const live = doc.createElement('div');
  live.className = 'kb-sr';
  live.setAttribute('aria-live', 'polite');
  doc.body.appendChild(live);

  async function copy(button) {
    const text = button.dataset.kbCopy;
    let ok = false;
    try {
      await navigator.clipboard.writeText(text);
      ok = true;
    } catch (err) {  // no clipboard API outside https/localhost: the old way
      const area = doc.createElement('textarea');
      area.value = text;
      area.setAttribute('readonly', '');
      area.style.position = 'fixed';
      area.style.opacity = '0';
      doc.body.appendChild(area);
      area.select();
      ok = doc.execCommand('copy');
      area.remove();
    }
    window.__kbCopied = ok ? text : null;
    button.textContent = ok ? 'Copiada ✓' : 'No se pudo copiar';
    live.textContent = ok ? 'Frase copiada' : 'No se pudo copiar la frase';
    setTimeout(() => { button.textContent = 'Copiar'; }, 1500);
  }

  doc.addEventListener('click', (e) => {
    const button = e.target.closest && e.target.closest('button[data-kb-copy]');
    if (button) { e.preventDefault(); copy(button); }
  });
  doc.addEventListener('keydown', (e) => {
    const t = e.target;
    const typing = t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName));
    if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
      const box = doc.querySelector(BOX);
      if (box) { e.preventDefault(); box.focus(); box.select(); }
      return;
    }
    if (e.altKey && !e.ctrlKey && !e.metaKey && /^(Digit|Numpad)[123]$/.test(e.code)) {
      const rank = e.code.slice(-1);
      const button = doc.querySelector('button[data-kb-first][data-kb-rank="' + rank + '"]');
      if (button) { e.preventDefault(); copy(button); }
    }
  }, true);

  let tries = 0;  // the cursor in the search box once it is on screen: the agent types at once
  const timer = setInterval(() => {
    const box = doc.querySelector(BOX);
    if (box && !box.dataset.kbFocused) { box.focus(); box.dataset.kbFocused = '1'; }
    if (box || ++tries > 100) clearInterval(timer);
  }, 50);
})();
</script>""".replace("%(label)s", SEARCH_LABEL)
