#!/usr/bin/env python3
"""Writes the apk index cache of testdata/alpine: /etc/apk/repositories and,
for each remote repository, /var/cache/apk/APKINDEX.<sha1(url)[:8]>.tar.gz laid
out as apk-tools writes them: a gzip stream holding the signature's tar
entries (no end-of-archive), then a gzip stream holding DESCRIPTION and
APKINDEX."""
import gzip, hashlib, io, os, tarfile

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "alpine")
repos = {
    "https://dl-cdn.alpinelinux.org/alpine/v3.19/main": [
        ("musl", "1.2.4-r3"), ("busybox", "1.36.1-r7"), ("linux-virt", "6.6.14-r0"),
        ("busybox", "1.36.1-r6"), ("openssl", "3.1.4-r5")],
    "https://dl-cdn.alpinelinux.org/alpine/v3.19/community": [("go", "1.21.8-r0")],
    "@edge https://dl-cdn.alpinelinux.org/alpine/edge/main": [
        ("musl", "1.2.5-r0"), ("busybox", "1.37.0-r0")],
}

def tar_bytes(entries, end):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1700000000
            t.addfile(info, io.BytesIO(data))
    b = buf.getvalue()
    if not end:  # apk strips the end-of-archive blocks of the signature part
        b = b.rstrip(b"\0")
        b += b"\0" * (-len(b) % 512)
    return b

os.makedirs(os.path.join(root, "var/cache/apk"), exist_ok=True)
os.makedirs(os.path.join(root, "etc/apk"), exist_ok=True)
with open(os.path.join(root, "etc/apk/repositories"), "w") as f:
    f.write("# fixture repositories\n" + "\n".join(repos) + "\n")
with open(os.path.join(root, "etc/apk/world"), "w") as f:
    f.write("busybox\nlinux-virt\nmusl\n")
with open(os.path.join(root, "etc/apk/arch"), "w") as f:
    f.write("x86_64\n")
for line, pkgs in repos.items():
    url = line.split()[-1]
    index = "".join(f"C:Q1{hashlib.sha1((n+v).encode()).hexdigest()[:27]}=\nP:{n}\nV:{v}\nA:x86_64\nS:1000\nI:2000\nT:{n}\nU:https://example.org/\nL:MIT\no:{n}\nt:1700000000\n\n" for n, v in pkgs)
    sig = gzip.compress(tar_bytes([(".SIGN.RSA.alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub", b"\x01" * 256)], False), mtime=0)
    body = gzip.compress(tar_bytes([("DESCRIPTION", b"v3.19.1-fixture"), ("APKINDEX", index.encode())], True), mtime=0)
    name = "APKINDEX." + hashlib.sha1(url.encode()).hexdigest()[:8] + ".tar.gz"
    with open(os.path.join(root, "var/cache/apk", name), "wb") as f:
        f.write(sig + body)
