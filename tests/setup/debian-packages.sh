#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real (a browser, a proxy, ...),
# when this machine can: root and apt reachable. Otherwise it says why, and the tests
# that need them skip with that reason. Usage: debian-packages.sh PACKAGE...
set -u
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "not installing ${missing[*]} (needs root and apt): the tests that use them will skip"
  exit 0
fi
echo "installing Debian packages for the tests: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/streamdeploy-apt.log 2>&1; then
  apt-get update -q >>/tmp/streamdeploy-apt.log 2>&1
  apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/streamdeploy-apt.log 2>&1 \
    || echo "could not install ${missing[*]} (see /tmp/streamdeploy-apt.log): the tests that use them will skip"
fi
exit 0
