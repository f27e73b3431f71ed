#!/usr/bin/env bash
# cluster.sh: a real, single-node Slurm cluster for the tests, private to one
# directory: its own munged (own key and socket), slurmctld and slurmd on free
# ports, state, spool, pid and log files under DIR. It never reads or touches
# the machine's /etc/slurm, /etc/munge or system services.
#
#   cluster.sh start DIR [--owner PID]  start and wait until the node is idle;
#                                       with --owner, a guard stops the cluster
#                                       when process PID ends (a crashed or
#                                       killed test leaves no daemons behind)
#   cluster.sh env DIR                  print the environment clients need
#                                       (eval "$(cluster.sh env DIR)")
#   cluster.sh stop DIR                 cancel every job, stop the daemons
#   cluster.sh status DIR               sinfo and squeue of the cluster
#
# Exit status: 0 done; 1 a daemon did not start (its log's tail on stderr);
# 2 bad usage; 77 the Slurm or munge binaries are absent (a skip).
set -uo pipefail

readonly ME=cluster.sh
die() { echo "$ME: error: $1" >&2; exit "${2:-1}"; }
say() { echo "$ME: $*" >&2; }

[ $# -ge 2 ] || die "usage: $ME start|stop|env|status DIR [--owner PID]" 2
cmd=$1
dir=$2
shift 2
owner=""
while [ $# -gt 0 ]; do
  case "$1" in
    --owner) [ $# -ge 2 ] || die "--owner: expected a process id" 2; owner=$2; shift 2 ;;
    *) die "'$1': unknown option" 2 ;;
  esac
done

sbin_of() { command -v "$1" 2>/dev/null || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; }; }
need_binaries() {
  local b missing=()
  for b in munged mungekey slurmctld slurmd sbatch squeue scontrol scancel sinfo; do
    [ -n "$(sbin_of "$b")" ] || missing+=("$b")
  done
  [ ${#missing[@]} -eq 0 ] ||
    die "Slurm or munge not installed (missing: ${missing[*]}; make -f Makefile.wrapper deps installs slurm-wlm, slurmctld, slurmd, slurm-client, munge)" 77
}

conf="$dir/etc/slurm.conf"

env_lines() { echo "export SLURM_CONF='$conf'"; }

# pid_of NAME: the pid in DIR/run/NAME.pid if that process still runs the
# program it was started as (a recycled pid is never signalled).
pid_of() {
  local f="$dir/run/$1.pid" p
  [ -s "$f" ] || return 1
  p=$(tr -dc '0-9' <"$f")
  [ -n "$p" ] && [ -d "/proc/$p" ] || return 1
  tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "$2" || return 1
  echo "$p"
}

# stop_pid NAME PATTERN: TERM, wait up to 20 s, then KILL.
stop_pid() {
  local p i
  p=$(pid_of "$1" "$2") || return 0
  kill -TERM "$p" 2>/dev/null
  for i in $(seq 1 40); do
    [ -d "/proc/$p" ] || return 0
    sleep 0.5
  done
  say "$1 (pid $p) did not stop in 20 s: killing it"
  kill -KILL "$p" 2>/dev/null
}

do_stop() {
  export SLURM_CONF="$conf"
  if [ -f "$conf" ] && pid_of slurmctld slurmctld >/dev/null; then
    # No job outlives the cluster: cancel them all, wait until none runs.
    local jobs i
    jobs=$(timeout 20 squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')
    if [ -n "${jobs// /}" ]; then
      # shellcheck disable=SC2086
      timeout 20 scancel $jobs 2>/dev/null
      for i in $(seq 1 60); do
        [ -z "$(timeout 20 squeue -h -o %A 2>/dev/null)" ] && break
        sleep 0.5
      done
    fi
  fi
  stop_pid slurmd slurmd
  stop_pid slurmctld slurmctld
  stop_pid munged munged
  # The guard ends itself once its owner is gone; when stop was called by
  # hand, it is no longer needed.
  local g
  if g=$(pid_of guard "$ME") && [ "$g" != "${GUARD_SELF:-}" ]; then kill -TERM "$g" 2>/dev/null; fi
  return 0
}

free_port() {  # a TCP port nothing on this machine uses
  local p used
  used=$(ss -Htan 2>/dev/null | awk '{n=split($4,a,":"); print a[n]}' | sort -u)
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 30000 ))
    grep -qx "$p" <<<"$used" || { echo "$p"; return 0; }
  done
  return 1
}

log_tail() { [ -f "$1" ] && tail -n 15 "$1" | sed "s|^|  $(basename "$1"): |" >&2; }

do_start() {
  need_binaries
  [ -n "$owner" ] && { [ -d "/proc/$owner" ] || die "--owner $owner: no such process" 2; }
  if [ -f "$conf" ] && pid_of slurmctld slurmctld >/dev/null; then die "'$dir': a cluster runs there already" 2; fi
  mkdir -p "$dir" || die "'$dir': cannot create"
  dir=$(cd "$dir" && pwd)
  conf="$dir/etc/slurm.conf"
  umask 077
  mkdir -p "$dir"/{etc,run,log,munge,ctld,spool,tmp} || die "'$dir': cannot create its directories"
  chmod 700 "$dir" "$dir/munge"
  local node user mem cpus cport dport i
  node=$(hostname -s)
  user=$(id -un)
  cpus=$(nproc)
  # A little below MemTotal: a node that reports less memory than its
  # configuration says is drained.
  mem=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
  cport=$(free_port) && dport=$(free_port) || die "no free TCP port found"
  while [ "$dport" = "$cport" ]; do dport=$(free_port); done

  # munge: its own key, socket, pid, log and seed files.
  "$(sbin_of mungekey)" --create --keyfile="$dir/munge/munge.key" 2>"$dir/log/mungekey.log" ||
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none ||
    die "cannot create a munge key in '$dir/munge'"
  chmod 600 "$dir/munge/munge.key"
  local force=()
  [ "$(id -u)" = 0 ] && force=(--force)  # munged refuses root without it
  "$(sbin_of munged)" "${force[@]}" --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" \
    >>"$dir/log/munged.log" 2>&1 || { log_tail "$dir/log/munged.log"; die "munged did not start"; }

  cat >"$conf" <<CONF
# Written by tests/slurm/cluster.sh: a private single-node cluster in $dir.
ClusterName=cvgatetest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$cport
SlurmdPort=$dport
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
TmpFS=$dir/tmp
PlugStackConfig=$dir/etc/plugstack.conf
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
# No accounting database: a finished job's state lives only in slurmctld's
# memory, for MinJobAge seconds. Long enough for any test.
MinJobAge=86400
# Short signal-to-kill grace, generous timeouts for a loaded 2-core machine.
KillWait=5
MessageTimeout=30
SlurmdTimeout=300
SchedulerParameters=sched_interval=2
# Pre-emption by partition: a job in "high" cancels the "debug" jobs in its
# way (they end PREEMPTED). The heartbeat's jobs run in "debug"; a test
# submits to "high" to pre-empt one.
PreemptType=preempt/partition_prio
PreemptMode=CANCEL
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP PriorityTier=1
PartitionName=high Nodes=$node MaxTime=INFINITE State=UP PriorityTier=2
# Never runs a job: one submitted there waits for ever (a test's graph that
# cannot start).
PartitionName=closed Nodes=$node MaxTime=INFINITE State=DOWN PriorityTier=1
CONF
  : >"$dir/etc/plugstack.conf"
  export SLURM_CONF="$conf"

  "$(sbin_of slurmctld)" -f "$conf" -i >>"$dir/log/slurmctld.out" 2>&1 ||
    { log_tail "$dir/log/slurmctld.log"; log_tail "$dir/log/slurmctld.out"; do_stop; die "slurmctld did not start"; }
  for i in $(seq 1 60); do
    timeout 20 scontrol ping >/dev/null 2>&1 && break
    sleep 0.5
  done
  "$(sbin_of slurmd)" -f "$conf" -N "$node" >>"$dir/log/slurmd.out" 2>&1 ||
    { log_tail "$dir/log/slurmd.log"; log_tail "$dir/log/slurmd.out"; do_stop; die "slurmd did not start"; }

  if [ -n "$owner" ]; then
    # The guard: when the owner ends without stopping the cluster, stop it.
    setsid bash -c 'echo $$ >"$1/run/guard.pid"; while [ -d "/proc/$2" ]; do sleep 2; done
                    GUARD_SELF=$$ "$3" stop "$1" >>"$1/log/guard.log" 2>&1' \
      "$ME-guard" "$dir" "$owner" "$(cd "$(dirname "$0")" && pwd)/$ME" </dev/null >/dev/null 2>&1 &
  fi

  local state=""
  for i in $(seq 1 240); do
    state=$(timeout 20 sinfo -h -n "$node" -o %T 2>/dev/null | head -n 1)
    [ "$state" = idle ] && break
    sleep 0.5
  done
  if [ "$state" != idle ]; then
    say "node $node is '${state:-unknown}', not idle, after 120 s: $(timeout 20 sinfo -h -R 2>/dev/null | head -n 1)"
    log_tail "$dir/log/slurmctld.log"; log_tail "$dir/log/slurmd.log"
    do_stop
    die "the cluster in '$dir' did not come up"
  fi
  say "cluster up in $dir: node $node ($cpus CPUs, ${mem} MB), slurmctld port $cport, slurmd port $dport"
  env_lines
}

case "$cmd" in
  start) do_start ;;
  stop) [ -d "$dir" ] || exit 0; dir=$(cd "$dir" && pwd); conf="$dir/etc/slurm.conf"; do_stop ;;
  env) env_lines ;;
  status) export SLURM_CONF="$conf"; sinfo; squeue --states=all ;;
  *) die "'$cmd': expected start, stop, env or status" 2 ;;
esac
