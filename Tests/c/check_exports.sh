#!/bin/sh
# check_exports.sh STAGE_DIR -- checks a staged (installed) libswiftlet from the outside:
#   - it exports exactly the swl_* functions declared in include/swiftlet.h: no missing ones and
#     nothing else (a leaked swift_* or $s... symbol would clash with, or tie hosts to, some other
#     Swift runtime in the same process);
#   - its SONAME is libswiftlet.so.1 (SWL_ABI_VERSION) and it needs no libswift* at run time
#     (the Swift runtime is linked in statically);
#   - the installed header is the repository's, and the installed pkg-config file builds and runs a
#     program against it.
# Prints "exports: N passed, M failed"; exits non-zero if anything failed.
set -u

STAGE=${1:?usage: check_exports.sh STAGE_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
HEADER="$HERE/../../include/swiftlet.h"
LIB="$STAGE/lib/libswiftlet.so.1"
CC=${CC:-cc}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "check_exports: FAILED: $*" >&2; }

if [ ! -e "$LIB" ]; then
    fail "$LIB does not exist"
    echo "exports: $passed passed, $failed failed"
    exit 1
fi

# The functions the header declares: every SWL_API line names one (the name precedes its '(').
grep 'SWL_API' "$HEADER" | grep -v '^#' | grep -oE 'swl_[a-z0-9_]+[[:space:]]*\(' |
    sed 's/[[:space:]]*($//' | sort -u > "$TMP/declared"
# What the library exports: defined dynamic symbols with GLOBAL, WEAK or UNIQUE binding (other
# objects can bind to those). LOCAL entries in .dynsym are not exports: the version script's
# "local: *" leaves some Swift metadata there with LOCAL binding, which nothing can link against.
# Also dropped: symbol-version suffixes and the version nodes themselves (SWIFTLET_1 appears as
# an absolute symbol).
readelf -V --wide "$LIB" | sed -n 's/.*Rev: .*Name: \([^ ]*\).*/\1/p' | sort -u > "$TMP/versions"
readelf --dyn-syms --wide "$LIB" |
    awk '$1 ~ /^[0-9]+:$/ && $7 != "UND" && ($5 == "GLOBAL" || $5 == "WEAK" || $5 == "UNIQUE") { print $8 }' |
    sed 's/@.*//' | sort -u | comm -23 - "$TMP/versions" > "$TMP/exported"

if [ -s "$TMP/declared" ]; then pass; else fail "found no SWL_API declarations in $HEADER"; fi
missing=$(comm -23 "$TMP/declared" "$TMP/exported")
if [ -z "$missing" ]; then pass; else fail "declared in swiftlet.h but not exported:" $missing; fi
extra=$(comm -13 "$TMP/declared" "$TMP/exported")
if [ -z "$extra" ]; then
    pass
else
    fail "exported but not declared in swiftlet.h ($(echo "$extra" | wc -l) symbols):"
    echo "$extra" | head -n 20 | sed 's/^/    /' >&2
fi

soname=$(readelf -d "$LIB" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" = libswiftlet.so.1 ]; then pass; else fail "SONAME is '$soname', want libswiftlet.so.1"; fi

deps=$(ldd "$LIB")
if echo "$deps" | grep -qi 'libswift'; then
    fail "needs Swift runtime libraries at run time:"
    echo "$deps" | grep -i 'libswift' | sed 's/^/    /' >&2
else
    pass
fi
if echo "$deps" | grep -q 'not found'; then
    fail "unresolved dependencies:"
    echo "$deps" | grep 'not found' | sed 's/^/    /' >&2
else
    pass
fi

if cmp -s "$HEADER" "$STAGE/include/swiftlet.h"; then pass; else fail "installed swiftlet.h differs from include/swiftlet.h"; fi

# The pkg-config file: a program built only from its flags compiles, links and runs, and sees the
# library version pkg-config announces.
cat > "$TMP/pc.c" <<'PROGRAM'
#include <stdio.h>
#include <swiftlet.h>
int main(void) {
    printf("%s\n", swl_version());
    return swl_abi_version() == SWL_ABI_VERSION ? 0 : 1;
}
PROGRAM
if flags=$(PKG_CONFIG_PATH="$STAGE/lib/pkgconfig" pkg-config --cflags --libs swiftlet); then
    pass
    # $flags is split into words on purpose: it is a list of compiler options.
    # shellcheck disable=SC2086
    if "$CC" -std=c11 -Wall -Wextra -Werror "$TMP/pc.c" $flags -o "$TMP/pc" && version=$("$TMP/pc"); then
        pass
        modversion=$(PKG_CONFIG_PATH="$STAGE/lib/pkgconfig" pkg-config --modversion swiftlet)
        if [ "$version" = "$modversion" ]; then pass; else fail "swl_version() is '$version', pkg-config says '$modversion'"; fi
    else
        fail "a program built with 'pkg-config --cflags --libs swiftlet' ($flags) failed to build or run"
    fi
else
    fail "pkg-config --cflags --libs swiftlet failed with PKG_CONFIG_PATH=$STAGE/lib/pkgconfig"
fi

echo "exports: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
