"""The Chromium this project drives (browser tests and the load benchmark), in one place.

Debian's `chromium`, never a downloaded build. The flags keep it from reaching for the network
(this machine's network is closed: background requests are refused by the dozen otherwise).
"""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

ARM_CLOCK = """() => {
    // Times one Enter: from the keydown to the end of the rerun it triggers
    // (Streamlit's own run state on the app root goes running -> notRunning).
    const root = () => document.querySelector('[data-testid="stApp"]');
    const state = () => { const app = root(); return app ? app.getAttribute('data-test-script-state') : null; };
    const shown = () => { const main = document.querySelector('[data-testid="stMain"]'); return main ? main.innerText : ''; };
    // Enter may come while a run is under way (the first load of the model): that run counts.
    const clock = window.__kbClock = {start: null, end: null, before: null, started: state() !== 'notRunning'};
    const box = document.activeElement;
    box.addEventListener('keydown', e => {
        if (e.key === 'Enter' && clock.start === null) { clock.before = shown(); clock.start = performance.now(); }
    }, {once: true, capture: true});
    // A quick run can go running -> notRunning between two callbacks: the old values still show it.
    // The whole document is watched, so a re-mounted app root is still seen.
    const observer = new MutationObserver((records) => {
        if (state() !== 'notRunning' || records.some(r => r.oldValue && r.oldValue !== 'notRunning')) clock.started = true;
        if (state() === 'notRunning' && clock.started && clock.start !== null) {
            clock.end = performance.now(); observer.disconnect(); }
    });
    observer.observe(document.documentElement, {attributes: true, subtree: true,
                                                attributeFilter: ['data-test-script-state'], attributeOldValue: true});
    // A run quick enough that React never paints «running» leaves no mutation at all: then the end
    // is when the app is idle and shows something else than at the keydown (polled by `done`).
    clock.done = () => {
        if (clock.end === null && clock.start !== null && state() === 'notRunning' && shown() !== clock.before) {
            clock.end = performance.now(); observer.disconnect(); }
        return clock.end !== null;
    };
}"""
