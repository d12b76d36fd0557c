#!/bin/sh
# Make sure Debian's Chromium is available for the browser (e2e) tests.
# Playwright cannot download its own browsers here, so the tests use /usr/bin/chromium.
# Installs it when missing and we can (root + apt-get); otherwise prints a note. Always exits 0:
# the e2e tests skip without a browser, or fail loudly when BDT_REQUIRE_BROWSER=1.
CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure_browser: installing Debian chromium (for the e2e tests)..."
    export DEBIAN_FRONTEND=noninteractive
    if apt-get update -qq >/dev/null 2>&1 \
        && apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null 2>&1 \
        && [ -x "$CHROMIUM" ]; then
        echo "ensure_browser: installed $("$CHROMIUM" --version 2>/dev/null)"
    else
        echo "ensure_browser: could not install chromium; e2e tests will be skipped (or fail with BDT_REQUIRE_BROWSER=1)"
    fi
else
    echo "ensure_browser: $CHROMIUM not found and cannot install it (need root and apt-get); e2e tests will be skipped"
fi
exit 0
