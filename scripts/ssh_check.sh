#!/usr/bin/env bash
# Run attn-tui over a real ssh connection to localhost and report what came back.
#
# Starts a throwaway sshd on 127.0.0.1 (its own host key, an authorized key made for this run,
# no passwords), opens `ssh -tt` inside a tmux pane, launches attn-tui there, types a word,
# shrinks the pane below 40 × 12 and back, quits, and prints what the pane showed at each step.
# Needs openssh-server (Debian: apt-get install openssh-server), openssh-client and tmux. Not in
# CI: run it by hand. Leaves nothing running; everything it made is under a temporary directory.
#
#   scripts/ssh_check.sh            # TERM=xterm-256color over ssh
#   TERM_INSIDE=linux scripts/ssh_check.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${PORT:-2222}
TERM_INSIDE=${TERM_INSIDE:-xterm-256color}
SSHD=$(command -v sshd || echo /usr/sbin/sshd)
WORK=$(mktemp -d)
SESSION=attn-ssh-$$
SSHD_PID=

cleanup() {
    tmux kill-session -t "$SESSION" 2>/dev/null || true
    if [[ -n "$SSHD_PID" ]]; then kill "$SSHD_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

[[ -x "$SSHD" ]] || { echo "ssh_check: no sshd (apt-get install openssh-server)" >&2; exit 2; }
command -v tmux >/dev/null || { echo "ssh_check: no tmux" >&2; exit 2; }

ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/client_key"
cp "$WORK/client_key.pub" "$WORK/authorized_keys"
chmod 600 "$WORK/authorized_keys"
mkdir -p /run/sshd 2>/dev/null || true

cat > "$WORK/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $PORT
HostKey $WORK/host_key
AuthorizedKeysFile $WORK/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile $WORK/sshd.pid
AcceptEnv LANG LC_* COLORTERM NO_COLOR
EOF

"$SSHD" -D -e -f "$WORK/sshd_config" 2>"$WORK/sshd.log" &
SSHD_PID=$!
for _ in $(seq 50); do
    if ssh-keyscan -p "$PORT" 127.0.0.1 >/dev/null 2>&1; then break; fi
    sleep 0.1
done

SSH=(ssh -tt -p "$PORT" -i "$WORK/client_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
     -o LogLevel=ERROR -o BatchMode=yes "$(id -un)@127.0.0.1")
REMOTE="cd '$ROOT' && TERM=$TERM_INSIDE exec .venv/bin/attn-tui"

tmux new-session -d -s "$SESSION" -x 120 -y 40 "${SSH[*]} \"$REMOTE\"; echo SSH_EXIT=\$?; sleep 30"

shot() {  # shot LABEL: print the pane as text
    echo "---- $1 ----"
    tmux capture-pane -t "$SESSION" -p | sed -e 's/[[:space:]]*$//' | grep -v '^$' | head -"${2:-14}"
}

seen() { tmux capture-pane -t "$SESSION" -p | grep -q "$1"; }

for _ in $(seq 60); do seen "current" && break; sleep 0.5; done
if seen "current"; then echo "OK: the app started over ssh and showed a result"; else echo "FAIL: no result after 30 s"; fi
shot "started (120 x 40, TERM=$TERM_INSIDE over ssh)"

tmux send-keys -t "$SESSION" End " over ssh"
sleep 2
if seen "over"; then echo "OK: typing reached the app and recomputed"; else echo "FAIL: typed text not shown"; fi
shot "after typing" 8

tmux resize-window -t "$SESSION" -x 30 -y 10
sleep 2
if seen "too small"; then echo "OK: 30 x 10 shows the too-small notice"; else echo "FAIL: no notice at 30 x 10"; fi
shot "30 x 10" 10

tmux resize-window -t "$SESSION" -x 100 -y 30
sleep 2
if seen "too small"; then echo "FAIL: notice still shown at 100 x 30"; else echo "OK: back to the panes at 100 x 30"; fi
shot "100 x 30" 6

tmux send-keys -t "$SESSION" C-q
for _ in $(seq 40); do seen "SSH_EXIT" && break; sleep 0.25; done
if seen "SSH_EXIT=0"; then echo "OK: ctrl+q quit, ssh exited 0"; else echo "FAIL: did not quit cleanly"; shot "end" 40; fi
if grep -qi "traceback" <(tmux capture-pane -t "$SESSION" -p -S -200); then echo "FAIL: a traceback"; fi
