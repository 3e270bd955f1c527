#!/usr/bin/env bash
# (From the team's shared scripts, where it was tried on these machines; kept here so that CI
# needs nothing outside the repo.)
# slurm-local.sh - throw-away single-node Slurm cluster for CI (Debian/Ubuntu, run as root).
#
#   slurm-local.sh start    install slurm + munge if missing, configure, start munged,
#                           slurmctld and slurmd (no systemd needed), wait until the node is idle
#   slurm-local.sh stop     cancel jobs, shut the daemons down (by pid file only), remove the state dir
#   slurm-local.sh status   show daemons and sinfo
#   slurm-local.sh env      print "export SLURM_CONF=..." (use: eval "$(slurm-local.sh env)")
#
# Everything (config, munge key/socket, spool, logs, pid files) lives under one state dir:
#   SLURM_LOCAL_DIR        state dir                      (default /tmp/slurm-local)
#   SLURM_LOCAL_KEEP=1     "stop" keeps the state dir (logs) instead of deleting it
#   SLURM_LOCAL_CTLD_PORT  slurmctld port                 (default 6817)
#   SLURM_LOCAL_SLURMD_PORT slurmd port                   (default 6818)
#   SLURM_LOCAL_TIMEOUT    seconds to wait for the node to become idle (default 60)
#
# Nothing outside the state dir is written, except that "start" installs the Debian packages
# slurmctld, slurmd, slurm-client and munge when they are missing (apt-get, non-interactive).
# The system munge key/daemon and any system slurm.conf are not used: client commands find
# this cluster through SLURM_CONF, which must be exported (see "env").
# Nothing reads stdin and the daemons detach from the caller's stdin/stdout/stderr, so the
# script is safe in a CI step without a terminal. "start" needs root; jobs run as whoever
# submits them (root or any other local user).

set -euo pipefail
umask 022
PATH="$PATH:/usr/sbin:/sbin"        # the daemons live in sbin, which some root shells lack

DIR="${SLURM_LOCAL_DIR:-/tmp/slurm-local}"
DIR="${DIR%/}"
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac   # config files need an absolute path
CTLD_PORT="${SLURM_LOCAL_CTLD_PORT:-6817}"
SLURMD_PORT="${SLURM_LOCAL_SLURMD_PORT:-6818}"
TIMEOUT="${SLURM_LOCAL_TIMEOUT:-60}"
PARTITION=local
MARKER="$DIR/.slurm-local"          # proves the dir is ours before "stop" deletes it
CONF="$DIR/etc/slurm.conf"
export SLURM_CONF="$CONF"            # for the scontrol/sinfo/squeue calls made below

log() { echo "slurm-local: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
case "$DIR" in *[[:space:]]*|"") die "SLURM_LOCAL_DIR must be a path without spaces" ;; esac
[ "$DIR" != / ] || die "SLURM_LOCAL_DIR must not be /"

# ---------------------------------------------------------------- process helpers (pid files only)

# alive PID NAME: true if PID exists, is not a zombie, and its command name is NAME
# (the name check guards against a recycled pid; zombies count as dead because an
# init that does not reap would otherwise make us wait forever).
alive() {
    local pid="$1" name="$2" st comm
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ -r "/proc/$pid/stat" ] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [ "$comm" = "$name" ] || return 1
    st=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ "$st" != Z ] && [ "$st" != X ]
}

# pid_of PIDFILE: print the pid stored in PIDFILE (empty if none)
pid_of() { if [ -s "$1" ]; then tr -dc '0-9' < "$1"; fi; }

# wait_gone PID NAME SECONDS: wait for the process to exit; returns 1 on timeout
wait_gone() {
    local pid="$1" name="$2" n=$(( $3 * 5 ))
    while alive "$pid" "$name"; do
        n=$(( n - 1 )); [ "$n" -gt 0 ] || return 1
        sleep 0.2
    done
}

# stop_pid PIDFILE NAME: TERM (then KILL) the process named in PIDFILE, if it is still ours
stop_pid() {
    local pid; pid=$(pid_of "$1")
    [ -n "$pid" ] && alive "$pid" "$2" || return 0
    log "stopping $2 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" "$2" 15 && return 0
    log "$2 (pid $pid) ignored SIGTERM, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" "$2" 5 || log "WARNING: $2 (pid $pid) still alive"
}

MUNGE_PID="$DIR/munge/munged.pid"
CTLD_PID="$DIR/run/slurmctld.pid"
SLURMD_PID="$DIR/run/slurmd.pid"

all_running() {
    alive "$(pid_of "$MUNGE_PID")" munged &&
    alive "$(pid_of "$CTLD_PID")" slurmctld &&
    alive "$(pid_of "$SLURMD_PID")" slurmd
}

# (command substitutions instead of "| grep -q": no SIGPIPE surprises under pipefail)
ctld_up() { case "$(timeout 10 scontrol ping 2>/dev/null || true)" in *"is UP"*) return 0 ;; esac; return 1; }
jobs_left() { timeout 20 squeue -h -o %i 2>/dev/null || true; }

# Short host name, as slurmctld/slurmd compare it with gethostname(). It need not resolve:
# every address in the config is 127.0.0.1.
node_name() {
    local n; n=$(hostname -s 2>/dev/null || uname -n 2>/dev/null || true)
    n=${n%%.*}
    echo "${n:-localhost}"
}

usage_hint() {
    cat >&2 <<EOF
slurm-local: cluster is up (state dir $DIR, node $(node_name), partition $PARTITION).
  export SLURM_CONF=$CONF        # or: eval "\$($0 env)"
  sbatch --wait --array=0-3 job.sh         # blocks; exit code = highest task exit code
  jid=\$(sbatch --parsable --array=0-3 job.sh); while [ -n "\$(squeue -h -j "\$jid" -o %i 2>/dev/null)" ]; do sleep 2; done
  scontrol show job "\$jid"                # per-task JobState/ExitCode, for ~5 min after the end
  cat $DIR/log/jobcomp.log    # one line per finished job/task (sacct is not available)
  $0 stop
EOF
}

# failed start: show the logs, stop whatever did start, keep the state dir for inspection
fail_start() {
    dump_logs
    do_stop >/dev/null 2>&1 || true
    die "$* (logs kept in $DIR/log and $DIR/munge; the next start wipes them)"
}

dump_logs() {
    local f
    for f in "$DIR/munge/munged.log" "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log"; do
        [ -f "$f" ] && { log "---- last lines of $f"; tail -n 25 "$f" >&2; }
    done
    return 0
}

# ---------------------------------------------------------------- install

install_packages() {
    local missing=0 c
    for c in slurmctld slurmd sbatch squeue sinfo scontrol munged; do
        command -v "$c" >/dev/null 2>&1 || missing=1
    done
    [ "$missing" = 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || die "slurm/munge missing and no apt-get to install them"
    # On a host where systemd runs, the packages may also start the system munge service;
    # it has its own key and socket and does not interfere with this cluster.
    log "installing slurmctld slurmd slurm-client munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    local try
    for try in 1 2 3; do      # a few retries for flaky mirrors / a briefly held dpkg lock
        if apt-get -q -o DPkg::Lock::Timeout=120 update </dev/null >&2 &&
           apt-get install -y -q -o DPkg::Lock::Timeout=120 --no-install-recommends \
                   slurmctld slurmd slurm-client munge </dev/null >&2; then
            return 0
        fi
        log "apt-get failed (attempt $try)"; sleep 5
    done
    die "could not install slurm/munge"
}

# ---------------------------------------------------------------- configure

write_config() {
    local node hw
    node=$(node_name)
    # Hardware line as slurmd itself detects it ("NodeName=x CPUs=.. Boards=.. ... RealMemory=..."),
    # so the registration never disagrees with the config and the node is never drained.
    hw=$(slurmd -C 2>/dev/null | sed -n 's/^NodeName=[^ ]* //p' | head -n 1 || true)
    [ -n "$hw" ] || hw="CPUs=$(nproc) RealMemory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 ))"

    cat > "$CONF" <<EOF
# Generated by slurm-local.sh - single-node throw-away cluster. Do not edit; "start" rewrites it.
ClusterName=localci
# Controller on this host; clients and slurmd reach it on the loopback address.
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
# Daemons run as root, so no ownership fiddling with the state dir is needed.
SlurmUser=root
SlurmdUser=root
# Private munged (own key and socket under the state dir); clients find the socket here too.
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups anywhere: track processes through /proc, no task binding, no accounting gatherer.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# No slurmdbd, so sacct does not work; a text record of each finished job/array task instead.
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.log
# Schedule individual CPUs (hyperthreads count as CPUs); memory is not a consumable resource.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
MailProg=/bin/true
# The node line below is authoritative, and a node that was DOWN comes back by itself.
SlurmdParameters=config_overrides
ReturnToService=2
# Finished jobs stay visible to "scontrol show job" for 5 minutes.
MinJobAge=300
NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$node $hw State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

    # slurmd always initialises a cgroup plugin, even when no other plugin uses cgroups.
    # "autodetect" picks cgroup/v2 on a cgroup-v2 host, and in 22.05 that plugin needs
    # systemd/dbus plus a writable /sys/fs/cgroup, so slurmd dies in containers and
    # systemd-less VMs. The cgroup/v1 plugin's init touches nothing and nothing here calls
    # it later, so it is the safe choice up to 23.11; from 24.05 on "disabled" exists.
    local ver cg=cgroup/v1
    ver=$(slurmd -V 2>/dev/null | grep -o '[0-9][0-9]*\.[0-9][0-9]*' | head -n 1 || true)
    if [ -n "$ver" ] && [ "${ver%%.*}" -ge 24 ] && { [ "${ver%%.*}" -gt 24 ] || [ "${ver#*.}" -ge 5 ]; }; then
        cg=disabled
    fi
    cat > "$DIR/etc/cgroup.conf" <<EOF
# Generated by slurm-local.sh (Slurm ${ver:-?}): no cgroups are used by this cluster.
CgroupPlugin=$cg
EOF
}

# ---------------------------------------------------------------- start / stop

do_stop() {
    local ctld slurmd_pid
    if [ -f "$CONF" ] && alive "$(pid_of "$CTLD_PID")" slurmctld; then
        # Cancel everything, give the jobs a moment to finish, then shut the cluster down.
        if [ -n "$(jobs_left)" ]; then
            log "cancelling jobs"
            timeout 20 scancel --partition="$PARTITION" </dev/null || true
            local n=30
            while [ "$n" -gt 0 ] && [ -n "$(jobs_left)" ]; do
                sleep 1; n=$(( n - 1 ))
            done
        fi
        log "scontrol shutdown"
        timeout 20 scontrol shutdown </dev/null || true
        ctld=$(pid_of "$CTLD_PID"); slurmd_pid=$(pid_of "$SLURMD_PID")
        [ -z "$slurmd_pid" ] || wait_gone "$slurmd_pid" slurmd 20 || true
        [ -z "$ctld" ] || wait_gone "$ctld" slurmctld 20 || true
    fi
    # Whatever is still running (or was started without a working controller): signal by pid file.
    stop_pid "$SLURMD_PID" slurmd
    stop_pid "$CTLD_PID" slurmctld
    stop_pid "$MUNGE_PID" munged
}

do_start() {
    [ "$(id -u)" = 0 ] || die "must run as root (slurmd runs jobs as the submitting user)"
    if [ -f "$MARKER" ] && all_running && ctld_up; then
        log "already running"
        usage_hint
        return 0
    fi
    install_packages

    # Fresh state every time: stop leftovers of an earlier run, wipe and recreate the dir.
    if [ -d "$DIR" ]; then
        [ -f "$MARKER" ] || [ -z "$(ls -A "$DIR")" ] ||
            die "$DIR exists and was not created by slurm-local.sh; set SLURM_LOCAL_DIR"
        do_stop
        rm -rf "$DIR"
    fi
    # munged insists on: key 0600, socket dir world-searchable, no group/world-writable dirs.
    mkdir -p "$DIR"/{etc,munge,run,log,spool/ctld,spool/d}
    chmod 755 "$DIR" "$DIR/munge"
    touch "$MARKER"
    write_config

    if command -v mungekey >/dev/null 2>&1; then
        mungekey --create --keyfile="$DIR/munge/munge.key" --force
    else
        dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    fi
    chmod 600 "$DIR/munge/munge.key"

    # All three daemons fork into the background themselves (no -D) and detach from the
    # caller's stdin/stdout/stderr, so a CI step that pipes our output does not hang on them.
    log "starting munged"
    munged --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket" \
           --pid-file="$MUNGE_PID" --log-file="$DIR/munge/munged.log" \
           --seed-file="$DIR/munge/munged.seed" </dev/null >/dev/null 2>&1 ||
        fail_start "munged failed to start"
    local n=50
    until munge -n -S "$DIR/munge/munge.socket" </dev/null 2>/dev/null |
          unmunge -S "$DIR/munge/munge.socket" >/dev/null 2>&1; do
        n=$(( n - 1 )); [ "$n" -gt 0 ] || fail_start "munged does not answer"
        sleep 0.2
    done

    log "starting slurmctld"
    slurmctld -f "$CONF" </dev/null >/dev/null 2>&1 || fail_start "slurmctld failed to start"
    n=$(( TIMEOUT * 5 ))
    until ctld_up; do
        n=$(( n - 1 )); [ "$n" -gt 0 ] || fail_start "slurmctld does not answer"
        sleep 0.2
    done

    log "starting slurmd"
    slurmd -f "$CONF" -N "$(node_name)" </dev/null >/dev/null 2>&1 ||
        fail_start "slurmd failed to start"

    # Wait until the node is registered and idle (state "idle", not "idle*"/"down"/"drain").
    local state=""
    n=$(( TIMEOUT * 2 ))
    while :; do
        state=$(timeout 10 sinfo -h -N -n "$(node_name)" -o %T 2>/dev/null | head -n 1 || true)
        [ "$state" = idle ] && break
        n=$(( n - 1 ))
        [ "$n" -gt 0 ] || fail_start "node did not become idle (state: '${state:-?}')"
        sleep 0.5
    done
    usage_hint
}

do_status() {
    local p
    for p in "munged:$MUNGE_PID" "slurmctld:$CTLD_PID" "slurmd:$SLURMD_PID"; do
        if alive "$(pid_of "${p#*:}")" "${p%%:*}"; then
            echo "${p%%:*}: running (pid $(pid_of "${p#*:}"))"
        else
            echo "${p%%:*}: not running"
        fi
    done
    if [ -f "$CONF" ]; then timeout 10 sinfo 2>/dev/null || true; fi
    all_running
}

case "${1:-}" in
    start)  do_start ;;
    stop)
        if [ -d "$DIR" ] && [ ! -f "$MARKER" ]; then
            die "$DIR was not created by slurm-local.sh; not touching it"
        fi
        do_stop
        if [ -f "$MARKER" ] && [ "${SLURM_LOCAL_KEEP:-0}" != 1 ]; then
            rm -rf "$DIR"
            log "stopped; removed $DIR"
        else
            log "stopped"
        fi
        ;;
    status) do_status ;;
    env)    echo "export SLURM_CONF=$CONF" ;;
    *)      echo "usage: $0 {start|stop|status|env}   (state dir: SLURM_LOCAL_DIR, default /tmp/slurm-local)" >&2
            exit 2 ;;
esac
