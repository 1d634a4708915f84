# Sourced by the scripts: makes sure the tests' IMAP server, Debian's dovecot-imapd, is there (tests/dovecot.py runs
# a private instance of it on a loopback port). Order: $PULSE_DOVECOT if set; /usr/sbin/dovecot; install Debian's
# package with apt-get when running as root (with a policy-rc.d that keeps apt from starting a system service).
if [ -n "${PULSE_DOVECOT:-}" ]; then
  :
elif [ -x /usr/sbin/dovecot ] && [ -e /usr/lib/dovecot/imap ]; then
  export PULSE_DOVECOT=/usr/sbin/dovecot
elif [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's dovecot-imapd…"
  source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"
  apt_install_quietly dovecot-imapd
  export PULSE_DOVECOT=/usr/sbin/dovecot
else
  echo "No dovecot found: the e-mail intake tests are skipped (install 'dovecot-imapd' or set PULSE_DOVECOT)." >&2
fi
