# Sourced by the find-*.sh scripts: `apt_install_quietly PACKAGE…` installs Debian packages as root without letting
# apt start them as system services (a policy-rc.d that says no, removed again if it was not there before).
apt_install_quietly() {
  local policy_existed=0
  [ -e /usr/sbin/policy-rc.d ] && policy_existed=1
  if [ "$policy_existed" = "0" ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi
  local status=0
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || status=$?
  if [ "$policy_existed" = "0" ]; then rm -f /usr/sbin/policy-rc.d; fi
  return $status
}
