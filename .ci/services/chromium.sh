#!/usr/bin/env bash
# Debian's Chromium and its WebDriver, for the web app's browser test (tests/test_web_browser.py).
#
#   .ci/services/chromium.sh start DIR   installs chromium and chromium-driver from Debian when
#                                        missing, checks that both run, and prints their paths
#   .ci/services/chromium.sh stop DIR    nothing to stop: each test starts its own browser
#
# The contract is postgres.sh's. Nothing here downloads a browser of its own: only Debian's
# packages, so the browser is the one the machine's package manager keeps up to date.
set -euo pipefail
cmd=${1:?usage: chromium.sh start|stop DIR}
: "${2:?usage: chromium.sh start|stop DIR}"

fail() { echo "chromium: $1" >&2; exit 1; }

case "$cmd" in
  start)
    if ! [ -x /usr/bin/chromium ] || ! [ -x /usr/bin/chromedriver ]; then
      [ "$(id -u)" = 0 ] || fail "not installed, and only root can install it (apt-get install chromium chromium-driver)"
      echo "chromium: installing chromium and chromium-driver from Debian" >&2
      apt-get update -qq >&2 || fail "apt-get update failed"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2 \
        || fail "apt-get install chromium chromium-driver failed"
    fi
    version=$(/usr/bin/chromium --headless --no-sandbox --version 2>&1) || fail "chromium does not run: $version"
    driver=$(/usr/bin/chromedriver --version 2>&1) || fail "chromedriver does not run: $driver"
    echo "chromium: $version; $driver" >&2
    echo "MATRIXGEN_TEST_CHROMIUM=/usr/bin/chromium"
    echo "MATRIXGEN_TEST_CHROMEDRIVER=/usr/bin/chromedriver"
    ;;
  stop)
    ;;
  *)
    echo "usage: chromium.sh start|stop DIR" >&2
    exit 2
    ;;
esac
