# Tries to change the kernel and the sandbox's own limits through /proc and /sys.
# Exits 0 when every write was refused.
status=0
try() {
  if (printf '%s\n' "$2" >"$1") 2>/dev/null; then
    echo "wrote $1"
    status=1
  else
    echo "refused $1"
  fi
}
try /proc/sys/kernel/hostname planted
try /proc/sys/kernel/core_pattern '|/tmp/planted'
try /proc/sys/vm/drop_caches 3
try /proc/sys/dev/tty/legacy_tiocsti 1
try /proc/sys/net/ipv4/ip_forward 1
try /proc/sys/fs/file-max 10
try /proc/sysrq-trigger b
try /proc/1/oom_score_adj -1000
try /proc/self/oom_score_adj -1000
try /sys/fs/cgroup/cgroup.procs 1
try /sys/fs/cgroup/memory.max max
try /sys/kernel/mm/transparent_hugepage/enabled always
exit $status
