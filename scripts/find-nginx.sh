# Sourced by the scripts: makes sure the deployment tests' reverse proxy, Debian's nginx, is there (the fixture in
# tests/e2e/test_deploy.py runs a private instance of it on loopback ports with the config in deploy/nginx/).
# Order: $PULSE_NGINX if set; /usr/sbin/nginx; install Debian's package with apt-get when running as root (with a
# policy-rc.d that keeps apt from starting a system service).
if [ -n "${PULSE_NGINX:-}" ]; then
  :
elif [ -x /usr/sbin/nginx ]; then
  export PULSE_NGINX=/usr/sbin/nginx
elif [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's nginx…"
  source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"
  apt_install_quietly nginx-light
  export PULSE_NGINX=/usr/sbin/nginx
else
  echo "No nginx found: the deployment tests are skipped (install 'nginx-light' or set PULSE_NGINX)." >&2
fi
