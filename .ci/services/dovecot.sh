#!/usr/bin/env bash
# A throwaway Dovecot IMAP server on 127.0.0.1, for the mail collection tests.
#
#   .ci/services/dovecot.sh start DIR   prints NAME=VALUE lines for the tests' environment and
#                                       exits 0; or says why it could not start (with the
#                                       server's log) on stderr and exits 1
#   .ci/services/dovecot.sh stop DIR
#
# The contract is postgres.sh's. The server is a private instance: its configuration, runtime
# files, log and the test user's Maildir all live in DIR, it listens on loopback only (plain IMAP
# with plaintext login, and IMAPS with a certificate from a throwaway CA), and one user in a
# passwd file may log in. As root it runs as the unprivileged `dovecot` user that Debian's package
# makes; otherwise as the user who starts it.
#
# Overrides: MATRIXGEN_CI_DOVECOT_BIN (the dovecot binary, to test the failure path),
# MATRIXGEN_CI_DOVECOT_CAPABILITY (the capabilities the server announces, e.g. without
# MOVE, for the tests of a server that lacks it), MATRIXGEN_CI_DOVECOT_NO_INSTALL=1 (never apt-get:
# the tests set it when they start a server of their own).
set -euo pipefail
cmd=${1:?usage: dovecot.sh start|stop DIR}
dir=${2:?usage: dovecot.sh start|stop DIR}

user=office
password=imap-test-pa55

fail() {
  echo "dovecot: $1" >&2
  shift
  for log in "$@"; do
    if [ -s "$log" ]; then echo "--- $log" >&2; cat "$log" >&2; fi
  done
  exit 1
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

case "$cmd" in
  start)
    if [ -n "${MATRIXGEN_CI_DOVECOT_BIN:-}" ]; then
      [ -x "$MATRIXGEN_CI_DOVECOT_BIN" ] || fail "no dovecot binary at $MATRIXGEN_CI_DOVECOT_BIN"
    elif ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
      [ -z "${MATRIXGEN_CI_DOVECOT_NO_INSTALL:-}" ] || fail "not installed (apt-get install dovecot-imapd)"
      [ "$(id -u)" = 0 ] || fail "not installed, and only root can install it (apt-get install dovecot-imapd)"
      echo "dovecot: installing it from Debian" >&2
      apt-get update -qq >&2 || fail "apt-get update failed"
      # policy-rc.d keeps the package's own system-wide service from starting.
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dovecot-imapd >&2 \
        || fail "apt-get install dovecot-imapd failed"
    fi
    bin=${MATRIXGEN_CI_DOVECOT_BIN:-$(command -v dovecot || echo /usr/sbin/dovecot)}
    if [ "$(id -u)" = 0 ]; then
      run_as=dovecot
      id "$run_as" >/dev/null 2>&1 || fail "there is no 'dovecot' user to run the server as"
    else
      run_as=$(id -un)
    fi
    uid=$(id -u "$run_as") gid=$(id -g "$run_as") group=$(id -gn "$run_as")
    port=$(free_port) ssl_port=$(free_port)
    # The runtime folder holds unix sockets, whose paths may not pass ~107 bytes: a deep DIR gets a
    # short one of its own in /tmp, named in DIR so that stop removes it too.
    run="$dir/run"
    if [ ${#dir} -gt 60 ]; then
      run=$(mktemp -d /tmp/mgdv.XXXXXX)
      echo "$run" >"$dir/run-dir"
    fi
    mkdir -p "$run" "$dir/state" "$dir/mail"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=matrixgen test CA" \
      -keyout "$dir/ca.key" -out "$dir/ca.pem" >"$dir/openssl.log" 2>&1 \
      && openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$dir/server.key" \
        -out "$dir/server.csr" >>"$dir/openssl.log" 2>&1 \
      && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/san.ext" \
      && openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
        -days 2 -extfile "$dir/san.ext" -out "$dir/server.pem" >>"$dir/openssl.log" 2>&1 \
      || fail "could not make a test certificate" "$dir/openssl.log"
    echo "$user:{PLAIN}$password:$uid:$gid::$dir/mail/$user" >"$dir/users"
    capability=""
    if [ -n "${MATRIXGEN_CI_DOVECOT_CAPABILITY:-}" ]; then
      capability="imap_capability = $MATRIXGEN_CI_DOVECOT_CAPABILITY"
    fi
    cat >"$dir/dovecot.conf" <<EOF
# Written by .ci/services/dovecot.sh: a private test instance, nothing of the system's.
base_dir = $run
state_dir = $dir/state
instance_name = matrixgen-test-$port
log_path = $dir/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = $run_as
default_internal_group = $group
default_login_user = $run_as
first_valid_uid = $uid
last_valid_uid = $uid
# Loopback only, so a plaintext login is allowed there; IMAPS is there for the TLS tests.
disable_plaintext_auth = no
auth_mechanisms = plain login
ssl = yes
ssl_cert = <$dir/server.pem
ssl_key = <$dir/server.key
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $dir/users
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $ssl_port
  }
}
service anvil {
  chroot =
}
service stats {
  unix_listener stats-reader {
    user = $run_as
  }
  unix_listener stats-writer {
    user = $run_as
  }
}
$capability
EOF
    if [ "$(id -u)" = 0 ]; then chown -R "$run_as" "$dir" "$run"; chmod 0700 "$dir" "$run"; fi
    "$bin" -c "$dir/dovecot.conf" >"$dir/start.log" 2>&1 \
      || fail "the server did not start" "$dir/start.log" "$dir/dovecot.log"
    # Ready when the greeting comes.
    for _ in $(seq 1 100); do
      if python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$port),1); sys.exit(0 if s.recv(64).startswith(b'* OK') else 1)" 2>/dev/null; then
        echo "MATRIXGEN_TEST_IMAP_URL=imap://$user:$password@127.0.0.1:$port"
        echo "MATRIXGEN_TEST_IMAPS_URL=imaps://$user:$password@127.0.0.1:$ssl_port"
        echo "MATRIXGEN_TEST_IMAP_CA_FILE=$dir/ca.pem"
        exit 0
      fi
      sleep 0.1
    done
    fail "the server did not answer on port $port" "$dir/start.log" "$dir/dovecot.log"
    ;;
  stop)
    run="$dir/run"
    [ -f "$dir/run-dir" ] && run=$(cat "$dir/run-dir")
    if [ -f "$dir/dovecot.conf" ] && [ -e "$run/master.pid" ]; then
      bin=${MATRIXGEN_CI_DOVECOT_BIN:-$(command -v dovecot || echo /usr/sbin/dovecot)}
      "$bin" -c "$dir/dovecot.conf" stop >/dev/null 2>&1 || true
      # `stop` returns before the processes are gone: wait, so that DIR can be removed.
      for _ in $(seq 1 50); do
        [ -e "$run/master.pid" ] || break
        sleep 0.1
      done
    fi
    if [ -f "$dir/run-dir" ]; then rm -rf "$run"; fi
    ;;
  *)
    echo "usage: dovecot.sh start|stop DIR" >&2
    exit 2
    ;;
esac
