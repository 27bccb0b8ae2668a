#!/usr/bin/env bash
# No container engine here, so CI checks what it can of the Dockerfile: every
# library the built memtyped links directly (DT_NEEDED, resolved by ldd) must
# come from a package the runtime stage's apt-get install names (libc6 and
# the like too, although the slim image has them: the list is then the whole
# truth), and none from the Swift toolchain (release builds link the Swift
# runtime statically).
# Usage: bash deploy/check-docker.sh BIN   (a release memtyped, --static-swift-stdlib)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$1
# The packages of the last stage's `apt-get install` line.
runtime=$(awk '/^FROM /{stage++} {print stage "\t" $0}' Dockerfile \
    | awk -F'\t' -v last="$(grep -c '^FROM ' Dockerfile)" '$1 == last {print $2}' \
    | grep -o 'apt-get install [^&]*' | tr ' \\' '\n\n' | grep -v -e '^-' -e '^$' -e '^apt-get$' -e '^install$' | tr '\n' ' ')
echo "runtime stage installs:$runtime"
status=0
for so in $(readelf -d "$BIN" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    lib=$(ldd "$BIN" | awk -v so="$so" '$1 == so && $3 ~ /^\// {print $3} $1 ~ ("/" so "$") {print $1}' | head -1)
    case "$lib" in
        "") echo "MISSING $so: ldd does not resolve it"; status=1; continue;;
        *swift*) echo "SWIFT   $so -> $lib: a toolchain library (build with --static-swift-stdlib)"; status=1; continue;;
    esac
    pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(realpath "$lib")" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null \
          || dpkg -S "${lib#/usr}" 2>/dev/null) || { echo "MISSING $so: no package owns $lib"; status=1; continue; }
    pkg=${pkg%%:*}
    pkg=${pkg%%,*}
    if printf '%s\n' $runtime | grep -qx "$pkg"; then
        echo "ok      $so -> $pkg (installed by the Dockerfile)"
    else
        echo "MISSING $so -> $pkg: add it to the Dockerfile's runtime apt-get install"
        status=1
    fi
done
exit $status
