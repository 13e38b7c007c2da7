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
    const app = document.querySelector('[data-testid="stApp"]');
    // Enter may come while a run is under way (the first load of the model): that run counts.
    const clock = window.__kbClock = {start: null, end: null,
                                      started: app.getAttribute('data-test-script-state') !== 'notRunning'};
    const box = document.activeElement;
    box.addEventListener('keydown', e => {
        if (e.key === 'Enter' && clock.start === null) clock.start = performance.now(); }, {once: true, capture: true});
    // A quick run can go running -> notRunning between two callbacks: the old values still show it.
    const observer = new MutationObserver((records) => {
        const state = app.getAttribute('data-test-script-state');
        if (state !== 'notRunning' || records.some(r => r.oldValue && r.oldValue !== 'notRunning')) clock.started = true;
        if (state === 'notRunning' && clock.started && clock.start !== null) {
            clock.end = performance.now(); observer.disconnect(); }
    });
    observer.observe(app, {attributes: true, attributeFilter: ['data-test-script-state'], attributeOldValue: true});
}"""
