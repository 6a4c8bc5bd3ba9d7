#!/bin/sh
# "make install DESTDIR=..." puts every file in place: the tools, the shared
# library with its soname links, the header, clusterops.pc, the man pages and
# the bash completions; a program builds and runs against the installed
# library through clusterops.pc; "make uninstall" leaves only directories.
set -u
: "${top_srcdir:?set by make check}" "${top_builddir:?set by make check}"
: "${MAKE:?}" "${CC:?}" "${PKG_CONFIG:?}" "${prefix:?}" "${bindir:?}" "${libdir:?}"
: "${includedir:?}" "${pkgconfigdir:?}" "${mandir:?}" "${bashcompletiondir:?}"

tools="sc-status sc-submit sc-kill sc-logs sc-events-prune sc-fetch kcat-lite"
status=0
fail() { echo "install-check: $*" >&2; status=1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/co-install.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/root

# The recursive make must not inherit this make's command-line variables.
if ! MAKEFLAGS='' $MAKE -C "$top_builddir" install DESTDIR="$dest" \
	>"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log"
	echo "install-check: make install failed" >&2
	exit 1
fi

for f in $tools; do
	[ -x "$dest$bindir/$f" ] || fail "$bindir/$f missing"
	[ -f "$dest$bashcompletiondir/$f" ] || fail "$bashcompletiondir/$f missing"
	[ -f "$dest$mandir/man1/$f.1" ] || fail "$mandir/man1/$f.1 missing"
done
[ -f "$dest$mandir/man7/clusterops.7" ] || fail "$mandir/man7/clusterops.7 missing"
[ -f "$dest$includedir/clusterops.h" ] || fail "$includedir/clusterops.h missing"
[ -f "$dest$pkgconfigdir/clusterops.pc" ] || fail "$pkgconfigdir/clusterops.pc missing"

# libclusterops.so -> libclusterops.so.N -> the file, whose SONAME is .so.N
lib=$dest$libdir/libclusterops.so
if [ -L "$lib" ]; then
	soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
	case $soname in
	libclusterops.so.[0-9]*) ;;
	*) fail "libclusterops.so: soname '$soname'" ;;
	esac
	[ -L "$dest$libdir/$soname" ] || fail "$libdir/$soname is not a symlink"
	[ -f "$dest$libdir/$soname" ] || fail "$libdir/$soname does not resolve"
else
	fail "$libdir/libclusterops.so is not a symlink"
fi

# A program built with the installed clusterops.pc, its paths moved under DESTDIR.
cat >"$tmp/prog.c" <<'PROG'
#include <stdio.h>
#include <clusterops.h>
int main(void)
{
	return puts(co_version()) == EOF;
}
PROG
if flags=$(PKG_CONFIG_PATH="$dest$pkgconfigdir" "$PKG_CONFIG" \
		--define-variable=prefix="$dest$prefix" \
		--define-variable=libdir="$dest$libdir" \
		--define-variable=includedir="$dest$includedir" \
		--cflags --libs clusterops); then
	# A library built with the sanitizers wants a program built with them.
	# shellcheck disable=SC2086 # flags are lists of words
	if $CC ${SAN_CFLAGS-} -o "$tmp/prog" "$tmp/prog.c" $flags; then
		out=$(LD_LIBRARY_PATH="$dest$libdir" "$tmp/prog") || fail "prog failed"
		[ -n "$out" ] || fail "co_version() is empty"
		ldd "$tmp/prog" 2>/dev/null | grep -q "$dest$libdir/libclusterops" ||
			LD_LIBRARY_PATH="$dest$libdir" ldd "$tmp/prog" |
			grep -q "$dest$libdir/libclusterops" ||
			fail "prog is not linked with the installed library"
	else
		fail "cannot build against the installed library"
	fi
else
	fail "pkg-config cannot read the installed clusterops.pc"
fi

if ! MAKEFLAGS='' $MAKE -C "$top_builddir" uninstall DESTDIR="$dest" \
	>"$tmp/uninstall.log" 2>&1; then
	cat "$tmp/uninstall.log"
	fail "make uninstall failed"
fi
left=$(find "$dest" ! -type d)
[ -z "$left" ] || fail "left after uninstall: $left"
exit $status
