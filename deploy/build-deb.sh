#!/usr/bin/env bash
# Builds OUTDIR/memtyped_VERSION_ARCH.deb with dpkg-deb:
#   /usr/bin/memtyped, /usr/bin/memtype     release builds, Swift runtime linked statically
#   /lib/systemd/system/memtyped.service    deploy/memtyped.service
#   /etc/memtyped/memtyped.env              deploy/memtyped.env (a conffile)
#   /usr/lib/memtyped/libvirt-qemu-hook     deploy/libvirt/qemu, mode 0755, #!/usr/bin/python3
#   /etc/libvirt/hooks/qemu.d/memtyped      a symlink to it (libvirt >= 6.5 runs it after
#                                           /etc/libvirt/hooks/qemu, the admin's); not a conffile
#   /etc/memtyped/libvirt-hook.conf         deploy/libvirt/qemu-hook.conf, enabled = no (a conffile)
#   /usr/share/man/man1/memtype*.1.gz       swift-argument-parser's generate-manual plugin
#   memtype's shell completions             bash, zsh and fish, from memtype --generate-completion-script
#   Depends:                                the packages owning what the binaries link (ldd, dpkg -S),
#                                           and python3 (the hook's interpreter)
# VERSION is what the built `memtyped --version` prints (the one constant,
# Sources/MemTypeEngine/Version.swift). Debian 12 with the Swift toolchain and
# libmicrohttpd-dev, libsqlite3-dev, pkg-config.
# Usage: bash deploy/build-deb.sh OUTDIR
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: bash deploy/build-deb.sh OUTDIR" >&2; exit 64; }
OUT=$(realpath -m "$1")
cd "$(dirname "$0")/.."

echo "== release build, Swift runtime linked statically"
for product in memtyped memtype; do
    swift build -c release --static-swift-stdlib --product "$product"
done
BIN=$(swift build -c release --show-bin-path)
VERSION=$("$BIN/memtyped" --version)
ARCH=$(dpkg --print-architecture)

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
ROOT="$WORK/memtyped_${VERSION}_${ARCH}"
install -D -m 0755 "$BIN/memtyped" "$ROOT/usr/bin/memtyped"
install -D -m 0755 "$BIN/memtype" "$ROOT/usr/bin/memtype"
strip --strip-unneeded "$ROOT/usr/bin/memtyped" "$ROOT/usr/bin/memtype"
install -D -m 0644 deploy/memtyped.service "$ROOT/lib/systemd/system/memtyped.service"
install -D -m 0644 deploy/memtyped.env "$ROOT/etc/memtyped/memtyped.env"
install -D -m 0644 deploy/memtyped.env "$ROOT/usr/share/doc/memtyped/examples/memtyped.env"
# The libvirt hook in qemu.d, never as /etc/libvirt/hooks/qemu (one file, the
# admin's). The script lives under /usr/lib and qemu.d holds a symlink to it:
# a symlink is no conffile, so `apt remove` takes it away. (A conffile hook
# would stay after removal, and with the kept config's `enabled = yes` and
# `on_unavailable = fail` refuse every domain start for want of memtyped.)
# Its interpreter is Debian's python3, not the first one on libvirtd's PATH
# (as dh_python3 rewrites it).
install -d -m 0755 "$ROOT/etc/libvirt/hooks/qemu.d" "$ROOT/usr/lib/memtyped"
sed '1s|^#!/usr/bin/env python3$|#!/usr/bin/python3|' deploy/libvirt/qemu > "$ROOT/usr/lib/memtyped/libvirt-qemu-hook"
chmod 0755 "$ROOT/usr/lib/memtyped/libvirt-qemu-hook"
ln -s /usr/lib/memtyped/libvirt-qemu-hook "$ROOT/etc/libvirt/hooks/qemu.d/memtyped"
# Off until the admin sets memtyped's address, a token and the host profile:
# installing the package changes no domain start.
install -D -m 0644 deploy/libvirt/qemu-hook.conf "$ROOT/etc/memtyped/libvirt-hook.conf"
install -D -m 0644 deploy/dev.tokens "$ROOT/usr/share/doc/memtyped/examples/dev.tokens"
for f in deploy/prometheus/*.yml deploy/grafana/*.json; do
    install -D -m 0644 "$f" "$ROOT/usr/share/doc/memtyped/examples/$(basename "$(dirname "$f")")/$(basename "$f")"
done

echo "== memtype's shell completions (memtype --generate-completion-script)"
install -d "$ROOT/usr/share/bash-completion/completions" "$ROOT/usr/share/zsh/vendor-completions" \
    "$ROOT/usr/share/fish/vendor_completions.d"
"$BIN/memtype" --generate-completion-script bash > "$ROOT/usr/share/bash-completion/completions/memtype"
"$BIN/memtype" --generate-completion-script zsh > "$ROOT/usr/share/zsh/vendor-completions/_memtype"
"$BIN/memtype" --generate-completion-script fish > "$ROOT/usr/share/fish/vendor_completions.d/memtype.fish"
chmod 0644 "$ROOT"/usr/share/bash-completion/completions/memtype "$ROOT"/usr/share/zsh/vendor-completions/_memtype \
    "$ROOT"/usr/share/fish/vendor_completions.d/memtype.fish

echo "== man pages (swift package generate-manual)"
# The plugin builds the package in debug mode and runs each executable with
# --experimental-dump-help; pages land under .build/plugins.
swift package --allow-writing-to-package-directory generate-manual >/dev/null
for page in $(find .build/plugins/GenerateManual/outputs -name 'memtype*.1'); do
    install -D -m 0644 "$page" "$ROOT/usr/share/man/man1/$(basename "$page")"
    gzip -9n "$ROOT/usr/share/man/man1/$(basename "$page")"
done
ls "$ROOT/usr/share/man/man1/memtyped.1.gz" >/dev/null

echo "== Depends: the packages that own the libraries the binaries link (their DT_NEEDED, resolved by ldd)"
depends=$(
    for bin in "$ROOT/usr/bin/memtyped" "$ROOT/usr/bin/memtype"; do
        for so in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
            lib=$(ldd "$bin" | awk -v so="$so" '$1 == so && $3 ~ /^\// {print $3} $1 ~ ("/" so "$") {print $1}' | head -1)
            [ -n "$lib" ] || { echo "ldd does not resolve $so for $bin" >&2; exit 1; }
            # Under merged /usr, dpkg knows a file by one of its two names.
            pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(realpath "$lib")" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null \
                  || dpkg -S "${lib#/usr}" 2>/dev/null) || { echo "no package owns $lib" >&2; exit 1; }
            pkg=${pkg%%:*}
            pkg=${pkg%%,*}
            # At least the upstream version built against (the Debian revision dropped).
            version=$(dpkg-query -W -f='${Version}' "$pkg")
            version=${version%-*}
            echo "$pkg (>= ${version#*:})"
        done
    done | sort -u | paste -sd, - | sed 's/,/, /g'
)
case "$depends" in *swift*) echo "a binary links the Swift toolchain's libraries: $depends" >&2; exit 1;; esac
# libvirt fails a domain start whose hook cannot be executed, so the hook's
# interpreter is a dependency, not a recommendation.
depends="$depends, python3"
echo "Depends: $depends"

mkdir -p "$ROOT/DEBIAN"
cat > "$ROOT/DEBIAN/control" <<CONTROL
Package: memtyped
Version: $VERSION
Architecture: $ARCH
Maintainer: memtyped maintainers <memtyped@localhost>
Depends: $depends
Section: net
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
Description: KVM guest memory-type decisions and per-VM quirk records over HTTP
 memtyped answers which memory type (EPT type, IPAT, guest PAT, effective
 type) a KVM guest access gets, and keeps each VM's quirk choices in SQLite.
 memtype is the decision engine on the command line.
CONTROL
(cd "$ROOT" && find etc -type f | sort | sed 's|^|/|') > "$ROOT/DEBIAN/conffiles"
cat > "$ROOT/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
# Not enabled or started here: the tokens file must exist first (README, "Deploying").
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
fi
POSTINST
cat > "$ROOT/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
fi
POSTRM
chmod 0755 "$ROOT/DEBIAN/postinst" "$ROOT/DEBIAN/postrm"

mkdir -p "$OUT"
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$OUT/memtyped_${VERSION}_${ARCH}.deb"
