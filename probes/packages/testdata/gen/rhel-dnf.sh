#!/bin/bash
# Builds testdata/rhel-dnf: a RHEL 9 host tree whose rpmdb.sqlite rpm itself
# wrote (rpm -i --justdb of packages rpmbuild made) and whose dnf cache dnf
# itself filled (dnf makecache over repos createrepo_c and modifyrepo_c made).
# Needs the Debian packages rpm, createrepo-c and dnf. Run from this directory.
set -euo pipefail
out=$(realpath ../rhel-dnf)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# pkg NAME EPOCH VERSION RELEASE ARCH DIR
pkg() {
	local spec=$work/$1-$3-$4.$5.spec
	cat >"$spec" <<SPEC
Name: $1
Version: $3
Release: $4
$([ "$2" != 0 ] && echo "Epoch: $2")
Summary: nodeguard dnf cache fixture
License: MIT
%description
Fixture package.
%files
SPEC
	rpmbuild --quiet -bb --target "$5" --define "_topdir $work/build" --define "_rpmdir $work/$6" \
		--define '_build_id_links none' "$spec" >/dev/null 2>&1
}

# Installed.
pkg openssl-libs 1 3.0.7 24.el9 x86_64 inst
pkg openssl-libs 1 3.0.7 24.el9 i686 inst
pkg bash 0 5.1.8 6.el9 x86_64 inst
pkg tzdata 0 2023c 1.el9 noarch inst
pkg kernel-core 0 5.14.0 362.8.1.el9_3 x86_64 inst
pkg kernel-core 0 5.14.0 362.13.1.el9_3 x86_64 inst
pkg curl 0 7.76.1 26.el9 x86_64 inst
pkg vim-minimal 2 8.2.2637 20.el9 x86_64 inst
pkg zlib 0 1.2.11 40.el9 x86_64 inst
pkg glibc 0 2.34 83.el9 x86_64 inst
pkg python3-pip-wheel 0 21.2.3 6.el9 noarch inst

# ng-baseos: security and bugfix updates, multilib, an install-only kernel.
pkg openssl-libs 1 3.0.7 25.el9_3 x86_64 baseos
pkg openssl-libs 1 3.0.7 27.el9 x86_64 baseos
pkg openssl-libs 1 3.0.7 25.el9_3 i686 baseos
pkg bash 0 5.1.8 9.el9 x86_64 baseos
pkg kernel-core 0 5.14.0 362.18.1.el9_3 x86_64 baseos
pkg curl 0 7.76.1 29.el9 x86_64 baseos
pkg vim-minimal 2 8.2.2637 16.el9 x86_64 baseos
pkg glibc 0 2.34 100.el9 i686 baseos
pkg nginx 1 1.20.1 14.el9 x86_64 baseos
# ng-appstream: a noarch update, and a noarch package turned arch-specific.
pkg tzdata 0 2024a 1.el9 noarch appstream
pkg python3-pip-wheel 0 21.2.3 7.el9 x86_64 appstream
# ng-testing: disabled, yet its cache is there.
pkg zlib 0 1.2.11 41.el9 x86_64 testing

advisory() { # ID TYPE then "name epoch version release arch" lines on stdin
	echo "  <update from=\"nodeguard\" status=\"final\" type=\"$2\" version=\"2.0\">"
	echo "    <id>$1</id><title>$1</title><issued date=\"2024-01-10 00:00:00\"/>"
	echo "    <pkglist><collection short=\"ng\"><name>ng</name>"
	while read -r n e v r a; do
		echo "      <package name=\"$n\" epoch=\"$e\" version=\"$v\" release=\"$r\" arch=\"$a\" src=\"$n-$v-$r.src.rpm\"><filename>$n-$v-$r.$a.rpm</filename></package>"
	done
	echo "    </collection></pkglist>"
	echo "  </update>"
}
{
	echo '<?xml version="1.0" encoding="UTF-8"?>'
	echo '<updates>'
	advisory RHSA-2024:0101 security <<<"openssl-libs 1 3.0.7 25.el9_3 x86_64
openssl-libs 1 3.0.7 25.el9_3 i686"
	advisory RHBA-2024:0102 bugfix <<<"bash 0 5.1.8 9.el9 x86_64
openssl-libs 1 3.0.7 27.el9 x86_64"
	advisory RHSA-2024:0103 security <<<"kernel-core 0 5.14.0 362.18.1.el9_3 x86_64"
	advisory RHSA-2024:0104 security <<<"curl 0 7.76.1 29.el9 x86_64"
	echo '</updates>'
} >"$work/baseos-updateinfo.xml"
{
	echo '<?xml version="1.0" encoding="UTF-8"?>'
	echo '<updates>'
	advisory RHSA-2024:0201 security <<<"zlib 0 1.2.11 41.el9 x86_64"
	echo '</updates>'
} >"$work/testing-updateinfo.xml"

for r in baseos appstream testing; do
	mkdir -p "$work/repos/$r"
	find "$work/$r" -name '*.rpm' -exec cp {} "$work/repos/$r/" \;
	createrepo_c --quiet "$work/repos/$r"
done
modifyrepo_c --mdtype=updateinfo --compress-type=gz "$work/baseos-updateinfo.xml" "$work/repos/baseos/repodata" >/dev/null
modifyrepo_c --mdtype=updateinfo --compress-type=gz "$work/testing-updateinfo.xml" "$work/repos/testing/repodata" >/dev/null

# yum's layout of ng-baseos (the sqlite primary yum reads), for the tests to
# lay under /var/cache/yum/<arch>/<releasever>/.
yum=$(realpath ../yum-cache)
rm -rf "$yum" && mkdir -p "$yum/ng-baseos"
cp "$work/repos/baseos/repodata/repomd.xml" "$work"/repos/baseos/repodata/*-primary.sqlite.* \
	"$work"/repos/baseos/repodata/*-updateinfo.xml.gz "$yum/ng-baseos/"

rm -rf "$out"
mkdir -p "$out/etc/yum.repos.d" "$out/etc/dnf" "$out/var/lib/rpm" "$out/proc/sys/kernel"
cp ../rhel/etc/os-release "$out/etc/os-release"
echo 5.14.0-362.13.1.el9_3.x86_64 >"$out/proc/sys/kernel/osrelease"
cat >"$out/etc/dnf/dnf.conf" <<CONF
[main]
gpgcheck=0
installonly_limit=3
# curl is held back: its security fix is masked.
exclude=curl*
CONF
for r in baseos appstream testing; do
	enabled=1
	[ $r = testing ] && enabled=0
	cat >"$out/etc/yum.repos.d/ng-$r.repo" <<REPO
[ng-$r]
name=nodeguard fixture $r
baseurl=file:///srv/nodeguard-fixture/$r
enabled=$enabled
gpgcheck=0
REPO
done
rpm --root "$out" --dbpath /var/lib/rpm --initdb
rpm --root "$out" --dbpath /var/lib/rpm -i --justdb --nodeps --ignorearch --ignoreos "$work"/inst/*/*.rpm
rm -f "$out"/var/lib/rpm/*-shm "$out"/var/lib/rpm/*-wal "$out"/var/lib/rpm/.rpm.lock

# dnf fills its cache itself, from the repos at the baseurl the fixture names.
mkdir -p /srv/nodeguard-fixture
rm -rf /srv/nodeguard-fixture/*
cp -a "$work/repos/." /srv/nodeguard-fixture/
dnf --installroot="$out" --setopt=reposdir="$out/etc/yum.repos.d" --setopt=cachedir="$out/var/cache/dnf" \
	--config="$out/etc/dnf/dnf.conf" --enablerepo=ng-testing --releasever=9 -q makecache >/dev/null
find "$out/var/cache/dnf" -mindepth 1 -maxdepth 1 ! -name 'ng-*' -exec rm -rf {} +
find "$out/var/cache/dnf" \( -name '*.solv' -o -name '*.solvx' -o -name '*.lock' -o -name 'packages' -o -name '*.pid' \) -prune -exec rm -rf {} +
rm -rf "$out/var/lib/dnf" "$out/var/log" /srv/nodeguard-fixture
find "$out" -type d -empty -delete
