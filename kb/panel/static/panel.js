// The panel's one script (kb/panel/keys.py injects it): «/» focuses the search box, Alt+1/2/3 copy
// the first Decir phrase of result 1/2/3, copy buttons, focus on load. Guards itself against reruns.
(() => {
  if (window.__kbKeys) return;
  window.__kbKeys = true;
  const doc = window.document;
  const BOX = 'input[aria-label="__SEARCH_LABEL__"]';
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
