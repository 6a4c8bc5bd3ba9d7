#!/bin/sh
# Every man page passes mandoc's lint, and every long option that a tool's
# --help lists is described in its man page.
set -u
: "${top_srcdir:?set by make check}" "${top_builddir:?set by make check}"
status=0
if [ -z "${MANDOC:-}" ]; then
	echo "mandoc not found: man pages not linted" >&2
	exit 77
fi
for page in "$top_srcdir"/man/*.[1-8]; do
	if ! out=$("$MANDOC" -Tlint -W warning "$page" 2>&1) || [ -n "$out" ]; then
		echo "$out"
		status=1
	fi
done
for page in "$top_srcdir"/man/*.1; do
	tool=$(basename "$page" .1)
	opts=$("$top_builddir/bin/$tool" --help | grep -o -- '--[a-z][a-z-]*' | sort -u)
	for opt in $opts; do
		# mandoc source writes a dash as \- or as plain -; accept both
		pat=$(printf '%s' "$opt" | sed 's/-/\\\\\\?-/g')
		if ! grep -q -- "$pat" "$page"; then
			echo "$tool: $opt is in --help but not in $page"
			status=1
		fi
	done
done
exit $status
