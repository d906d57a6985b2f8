#!/usr/bin/env bash
# Installs Debian's PostgreSQL, Redis and HAProxy for `make cluster` when missing.
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
[ -x /usr/sbin/runuser ] || command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  echo "Installing ${missing[*]} (Debian packages)"
  $SUDO apt-get update -q
  # policy-rc.d: the packages' own services (postgresql on 5432, redis on
  # 6379, haproxy) are not started; the cluster starts its own instances.
  $SUDO sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d.ketamine && chmod +x /usr/sbin/policy-rc.d.ketamine'
  [ -e /usr/sbin/policy-rc.d ] && had_policy=1 || { had_policy=0; $SUDO cp /usr/sbin/policy-rc.d.ketamine /usr/sbin/policy-rc.d; }
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" || status=$?
  [ "$had_policy" = 0 ] && $SUDO rm -f /usr/sbin/policy-rc.d
  $SUDO rm -f /usr/sbin/policy-rc.d.ketamine
  exit "${status:-0}"
fi
