#!/usr/bin/env bash
# CI for the package and the container (run by .ci/run): builds the .deb
# (deploy/build-deb.sh), unpacks it with dpkg-deb -x, and runs the unpacked
# memtyped and memtype with an empty environment (no LD_LIBRARY_PATH, no
# toolchain on any path: the Swift runtime must be linked in; memtype's
# client reaches libcurl and reports a closed port); checks the
# version in the file name is the binaries', that nothing links the
# toolchain, that the libvirt hook is /usr/lib/memtyped/libvirt-qemu-hook (mode
# 0755, python3 a dependency, off as installed: a domain starts untouched) with
# a symlink to it as /etc/libvirt/hooks/qemu.d/memtyped (no conffile: removed
# with the package) and never /etc/libvirt/hooks/qemu, that every regular file
# under /etc is a conffile (the hook's config among them), that the unpacked memtyped serves /healthz, then
# the Dockerfile's runtime packages against the same binary
# (deploy/check-docker.sh) and the packaged unit against it
# (deploy/check-unit.sh).
# Usage: bash deploy/check-deb.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
bash deploy/build-deb.sh "$WORK/out"
DEB=$(ls "$WORK"/out/memtyped_*_*.deb)
echo "== $(basename "$DEB"): $(dpkg-deb -f "$DEB" Depends)"
dpkg-deb -x "$DEB" "$WORK/root"
X="$WORK/root/usr/bin"
for tool in memtyped memtype; do
    version=$(env -i "$X/$tool" --version)
    [ "$(basename "$DEB")" = "memtyped_${version}_$(dpkg --print-architecture).deb" ] \
        || { echo "$tool --version says $version, the package is $(basename "$DEB")" >&2; exit 1; }
    env -i "$X/$tool" --help >/dev/null
    if ldd "$X/$tool" | grep -E 'swift|not found'; then echo "$tool links the toolchain or a missing library" >&2; exit 1; fi
    echo "unpacked $tool: --version $version, --help ok, links no toolchain library"
done
for f in usr/share/bash-completion/completions/memtype usr/share/zsh/vendor-completions/_memtype \
         usr/share/fish/vendor_completions.d/memtype.fish; do
    grep -q kvm-quirks "$WORK/root/$f" || { echo "the package's $f does not complete memtype's commands" >&2; exit 1; }
done
echo "memtype's completions for bash, zsh and fish are in the package"
HOOK=usr/lib/memtyped/libvirt-qemu-hook
LINK=etc/libvirt/hooks/qemu.d/memtyped
entry=$(dpkg-deb -c "$DEB" | awk -v p="./$HOOK" '$6 == p {print $1, $2}')
[ "$entry" = "-rwxr-xr-x root/root" ] || { echo "the package's /$HOOK is '$entry', not -rwxr-xr-x root/root" >&2; exit 1; }
[ "$(readlink "$WORK/root/$LINK")" = "/$HOOK" ] \
    || { echo "the package's /$LINK is not a symlink to /$HOOK ($(readlink "$WORK/root/$LINK"))" >&2; exit 1; }
if dpkg-deb -c "$DEB" | awk '{print $6}' | grep -qx './etc/libvirt/hooks/qemu'; then
    echo "the package ships /etc/libvirt/hooks/qemu, which is the admin's" >&2; exit 1
fi
[ "$(head -1 "$WORK/root/$HOOK")" = "#!/usr/bin/python3" ] \
    || { echo "/$HOOK starts with '$(head -1 "$WORK/root/$HOOK")', not #!/usr/bin/python3" >&2; exit 1; }
cmp -s <(tail -n +2 deploy/libvirt/qemu) <(tail -n +2 "$WORK/root/$HOOK") \
    || { echo "/$HOOK differs from deploy/libvirt/qemu beyond its #! line" >&2; exit 1; }
case ", $(dpkg-deb -f "$DEB" Depends)," in *", python3,"* | *", python3 ("*) ;;
    *) echo "Depends lacks python3, the hook's interpreter: $(dpkg-deb -f "$DEB" Depends)" >&2; exit 1;; esac
cmp -s deploy/libvirt/qemu-hook.conf "$WORK/root/etc/memtyped/libvirt-hook.conf" \
    || { echo "/etc/memtyped/libvirt-hook.conf is not deploy/libvirt/qemu-hook.conf" >&2; exit 1; }
dpkg-deb -I "$DEB" conffiles > "$WORK/conffiles"
for f in $(cd "$WORK/root" && find etc -type f); do
    grep -qx "/$f" "$WORK/conffiles" || { echo "/$f is in the package but not a conffile" >&2; exit 1; }
done
if grep -qx "/$LINK" "$WORK/conffiles"; then echo "/$LINK is a conffile: it would outlive apt remove" >&2; exit 1; fi
# As libvirt runs it (a clean environment, argv, the domain XML on stdin) with
# the packaged config, which is off: exit 0, nothing printed, no memtyped asked.
out=$(env -i PATH=/usr/bin:/bin MEMTYPED_HOOK_CONFIG="$WORK/root/etc/memtyped/libvirt-hook.conf" \
      "$WORK/root/$HOOK" web-vga prepare begin - < deploy/libvirt/samples/vga.xml 2>&1) \
    || { echo "the packaged hook with the packaged config refused a start: $out" >&2; exit 1; }
[ -z "$out" ] || { echo "the packaged hook with the packaged config printed: $out" >&2; exit 1; }
echo "libvirt hook: /$HOOK (0755, #!/usr/bin/python3, python3 in Depends) linked from /$LINK, not /etc/libvirt/hooks/qemu;" \
     "conffiles $(paste -sd' ' "$WORK/conffiles"); off as installed"
# memtype as a client from the package: libcurl (its one added library) resolves with no toolchain.
rc=0
env -i "$X/memtype" --server http://127.0.0.1:1 table >/dev/null 2>"$WORK/client-err" || rc=$?
[ "$rc" = 5 ] || { echo "the unpacked memtype asked a closed port: exit $rc, not 5: $(cat "$WORK/client-err")" >&2; exit 1; }
echo "unpacked memtype as a client: libcurl loads, a closed port is exit 5"
env -i "$X/memtyped" --port 0 --db "$WORK/db.sqlite" </dev/null >/dev/null 2>"$WORK/log" &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$WORK/log" && break; sleep 0.1; done
port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/log")
status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz" || true)
kill -TERM $pid
wait $pid
[ "$status" = 200 ] || { echo "the unpacked memtyped answered /healthz with '$status'"; cat "$WORK/log"; exit 1; } >&2
echo "unpacked memtyped serves /healthz and stops on SIGTERM"
echo "== Dockerfile runtime packages against the packaged binary"
bash deploy/check-docker.sh "$X/memtyped"
echo "== the packaged unit against the packaged binary"
bash deploy/check-unit.sh "$X/memtyped"
