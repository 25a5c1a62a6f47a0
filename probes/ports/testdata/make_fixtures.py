#!/usr/bin/env python3
"""Writes the ports probe's fixture host trees. Run from this directory; the
output is committed, this script documents how it was made."""
import ipaddress, os, shutil, struct

def hex4(ip):
    return "%08X" % struct.unpack("<I", ipaddress.IPv4Address(ip).packed)[0]

def hex6(ip):
    b = ipaddress.IPv6Address(ip).packed
    return "".join("%08X" % struct.unpack("<I", b[i:i+4])[0] for i in range(0, 16, 4))

HDR = {
 "tcp": "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
 "udp": "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
}

def row(i, table, ip, port, state, inode, rem="0"):
    v6 = table.endswith("6")
    a = hex6(ip) if v6 else hex4(ip)
    r = ("0"*32 if v6 else "0"*8) + ":" + "%04X" % int(rem)
    return "%4d: %s:%04X %s %s 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 100 0 0 10 0" % (i, a, port, r, state, inode)

def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)

def host(name, sockets, procs, extra=None, netdir="proc/1/net"):
    if os.path.exists(name):
        shutil.rmtree(name)
    os.makedirs(name)
    tables = {"tcp": [], "tcp6": [], "udp": [], "udp6": []}
    for s in sockets:
        tables[s[0]].append(s)
    for t, rows in tables.items():
        lines = [HDR[t[:3]]]
        for i, (tab, ip, port, state, inode) in enumerate(rows):
            lines.append(row(i, tab, ip, port, state, inode))
        write(os.path.join(name, netdir, t), "\n".join(lines) + "\n")
    os.makedirs(os.path.join(name, "proc/1"), exist_ok=True)
    for pid, comm, exe, cgroup, fds in procs:
        d = os.path.join(name, "proc", str(pid))
        write(os.path.join(d, "stat"), "%d (%s) S 1 %d %d 0 -1 4194560 100 0 0 0 1 1 0 0 20 0 1 0 %d 1000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n" % (pid, comm, pid, pid, 1000 + pid))
        write(os.path.join(d, "comm"), comm + "\n")
        write(os.path.join(d, "cgroup"), cgroup + "\n")
        os.symlink(exe, os.path.join(d, "exe"))
        os.makedirs(os.path.join(d, "fd"))
        os.symlink("/dev/null", os.path.join(d, "fd", "0"))
        os.symlink("pipe:[4242]", os.path.join(d, "fd", "1"))
        for n, ino in enumerate(fds, start=3):
            os.symlink("socket:[%d]" % ino, os.path.join(d, "fd", str(n)))
    write(os.path.join(name, "etc/hostname"), name + "-node\n")
    for path, text in (extra or {}).items():
        write(os.path.join(name, path), text)

CID = "4f3c2b1a0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"
SYS = "0::/system.slice/%s.service"
POD = "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1b2c.slice/cri-containerd-%s.scope" % CID

host("worker", [
    ("tcp", "0.0.0.0", 22, "0A", 1001),
    ("tcp", "127.0.0.1", 10248, "0A", 2001),
    ("tcp6", "::", 10250, "0A", 2002),
    ("tcp", "0.0.0.0", 10255, "0A", 2003),
    ("tcp", "0.0.0.0", 10249, "0A", 3001),
    ("tcp6", "::", 31000, "0A", 3002),
    ("tcp", "0.0.0.0", 30080, "0A", 3003),
    ("tcp", "0.0.0.0", 30080, "0A", 3004),
    ("tcp", "10.0.0.5", 2379, "0A", 4001),
    ("tcp", "0.0.0.0", 8081, "0A", 5001),
    ("tcp", "127.0.0.1", 6060, "0A", 6001),
    ("tcp", "0.0.0.0", 9000, "0A", 9999),
    ("tcp", "10.0.0.5", 44822, "01", 7777),      # established: not a listener
    ("tcp6", "::1", 9809, "0A", 8001),
    ("udp", "0.0.0.0", 68, "07", 7001),
    ("udp6", "::", 5353, "07", 8101),
    ("udp", "10.0.0.5", 41000, "01", 7778),      # connected UDP: not bound-only
], [
    (100, "sshd", "/usr/sbin/sshd", SYS % "ssh", [1001]),
    (200, "kubelet", "/usr/bin/kubelet", SYS % "kubelet", [2001, 2002, 2003]),
    (300, "kube-proxy", "/usr/local/bin/kube-proxy", POD.replace(CID, "a"*64), [3001, 3002, 3003, 3004]),
    (400, "etcd", "/usr/local/bin/etcd", SYS % "etcd", [4001]),
    (500, "python3", "/usr/bin/python3.11 (deleted)", POD, [5001]),
    (600, "debugd", "/opt/debugd/bin/debugd", SYS % "debugd", [6001]),
    (700, "dhclient", "/sbin/dhclient", SYS % "networking", [7001]),
    (800, "avahi-daemon", "/usr/sbin/avahi-daemon", SYS % "avahi-daemon", [8101]),
    (900, "nodeguard", "/nodeguard", POD.replace(CID, "b"*64), [8001]),
])

host("control-plane", [
    ("tcp6", "::", 6443, "0A", 1101),
    ("tcp", "10.0.0.10", 2379, "0A", 1201),
    ("tcp", "127.0.0.1", 2379, "0A", 1202),
    ("tcp", "10.0.0.10", 2380, "0A", 1203),
    ("tcp", "127.0.0.1", 2381, "0A", 1204),
    ("tcp", "127.0.0.1", 10259, "0A", 1301),
    ("tcp", "127.0.0.1", 10257, "0A", 1401),
    ("tcp6", "::", 10250, "0A", 1501),
    ("tcp", "0.0.0.0", 10251, "0A", 1302),
    ("tcp", "0.0.0.0", 8080, "0A", 1102),
], [
    (1100, "kube-apiserver", "/usr/local/bin/kube-apiserver", POD.replace(CID, "c"*64), [1101, 1102]),
    (1200, "etcd", "/usr/local/bin/etcd", POD.replace(CID, "d"*64), [1201, 1202, 1203, 1204]),
    (1300, "kube-scheduler", "/usr/local/bin/kube-scheduler", POD.replace(CID, "e"*64), [1301, 1302]),
    (1400, "kube-controller", "/usr/local/bin/kube-controller-manager", POD.replace(CID, "f"*64), [1401]),
    (1500, "kubelet", "/usr/bin/kubelet", SYS % "kubelet", [1501]),
], extra={"etc/kubernetes/manifests/kube-apiserver.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\n"})

# Bad input: a truncated row, a bogus address, and a process that vanished
# (fd links into nowhere, no stat); tcp6 missing entirely (IPv6 disabled).
host("broken", [
    ("tcp", "0.0.0.0", 22, "0A", 1001),
    ("udp", "0.0.0.0", 68, "07", 7001),
], [
    (100, "sshd", "/usr/sbin/sshd", SYS % "ssh", [1001]),
], netdir="proc/net")
with open("broken/proc/net/tcp", "a") as f:
    f.write("   1: 0100007F:0C\n")
with open("broken/proc/net/udp", "a") as f:
    f.write("   1: ZZZZZZZZ:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 7002 2 0000000000000000 0\n")
os.remove("broken/proc/net/tcp6")
shutil.rmtree("broken/proc/1")
os.makedirs("broken/proc/4711/fd")
os.symlink("socket:[7001]", "broken/proc/4711/fd/3")
