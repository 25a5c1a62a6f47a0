#!/usr/bin/env bash
# Start-up of `nodeguard run` inside the DaemonSet's limits (docs/benchmarks.md):
# a memory cgroup with the manifests' memory limit and a CPU quota of its CPU
# limit. Reports the time from exec to the first /healthz and /readyz answers
# (readyz waits for the eBPF programs) and the peak memory charged to the
# cgroup, kernel memory (the verifier's, BPF maps') included.
# Usage: integration/bench/startup.sh [runs] [busy]   (as root; busy=1 keeps
# every core busy meanwhile)
set -euo pipefail
runs=${1:-5}
busy=${2:-0}
cd "$(dirname "$0")/../.."
ds=manifests/daemonset.yaml
mem=$(awk '/limits:/{l=1} l&&/memory:/{print $2; exit}' "$ds")
cpu=$(awk '/limits:/{l=1} l&&/cpu:/{print $2; exit}' "$ds")
mem_bytes=$(( ${mem%Mi} * 1024 * 1024 ))
quota=$(( ${cpu%m} * 100 ))  # microseconds per 100 ms period
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for d in "${cgdirs[@]}"; do rmdir "$d" 2>/dev/null || true; done
	rm -rf "$tmp"
}
cgdirs=()
trap cleanup EXIT
# As make build, side by side: `nodeguard run` executes nodeguard-agent, as deployed.
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$tmp/" ./cmd/nodeguard ./cmd/nodeguard-agent

name=nodeguard-startup-$$
if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then # unified
	cg=/sys/fs/cgroup/$name
	mkdir "$cg"
	cgdirs+=("$cg")
	echo "$mem_bytes" > "$cg/memory.max"
	echo "$quota 100000" > "$cg/cpu.max"
	join() { echo "$1" > "$cg/cgroup.procs"; }
	peak() { cat "$cg/memory.peak"; }
	reset() { :; }
else # v1 controllers
	mcg=/sys/fs/cgroup/memory/$name ccg=/sys/fs/cgroup/cpu/$name
	mkdir "$mcg" "$ccg"
	cgdirs+=("$mcg" "$ccg")
	echo "$mem_bytes" > "$mcg/memory.limit_in_bytes"
	echo 100000 > "$ccg/cpu.cfs_period_us"
	echo "$quota" > "$ccg/cpu.cfs_quota_us"
	join() { echo "$1" > "$mcg/cgroup.procs"; echo "$1" > "$ccg/cgroup.procs"; }
	peak() { cat "$mcg/memory.max_usage_in_bytes"; }
	reset() { echo 0 > "$mcg/memory.max_usage_in_bytes"; }
fi
if [[ $busy == 1 ]]; then
	for _ in $(seq "$(nproc)"); do (while :; do :; done) & pids+=($!); done
fi

echo "limits: memory $mem, cpu $cpu; busy=$busy"
printf '%-4s %12s %12s %14s %10s\n' run healthz_ms readyz_ms peak_MiB oom_kills
port=$((19000 + $$ % 1000))
for i in $(seq "$runs"); do
	reset
	# The shell joins the cgroups first, so the agent is charged from exec on.
	start=$(date +%s%N)
	( join "$BASHPID" && exec "$tmp/nodeguard" run --no-kube --listen "127.0.0.1:$port" --interval 1h --log-level error ) &
	agent=$!
	healthz="" readyz=""
	for _ in $(seq 3000); do
		now=$(date +%s%N)
		if [[ -z $healthz ]] && curl -fs -o /dev/null "http://127.0.0.1:$port/healthz"; then healthz=$(( (now - start) / 1000000 )); fi
		if [[ -n $healthz ]] && curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; then readyz=$(( (now - start) / 1000000 )); break; fi
		kill -0 "$agent" 2>/dev/null || break
		sleep 0.01
	done
	sleep 1 # let the first scan finish, so the peak covers start-up whole
	p=$(peak)
	kill -TERM "$agent" 2>/dev/null || true
	wait "$agent" 2>/dev/null || true
	ooms=0
	[[ -n ${mcg:-} && -f ${mcg:-}/memory.oom_control ]] && ooms=$(awk '/oom_kill /{print $2}' "$mcg/memory.oom_control")
	[[ -n ${cg:-} && -f ${cg:-}/memory.events ]] && ooms=$(awk '/oom_kill /{print $2}' "$cg/memory.events")
	printf '%-4s %12s %12s %14.1f %10s\n' "$i" "${healthz:-never}" "${readyz:-never}" "$(awk -v b="$p" 'BEGIN{print b/1048576}')" "$ooms"
done
