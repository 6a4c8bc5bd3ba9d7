#!/bin/sh
# Every bash completion file parses, passes shellcheck (when installed),
# defines the completion of its tool when sourced, and offers every option
# that the tool's --help lists.
set -u
: "${top_srcdir:?set by make check}" "${top_builddir:?set by make check}"
command -v bash >/dev/null || { echo "bash not found" >&2; exit 77; }
status=0
for tool in sc-status sc-submit sc-kill sc-logs sc-events-prune sc-fetch kcat-lite; do
	file=$top_srcdir/completions/$tool
	if ! bash -n "$file"; then
		status=1
		continue
	fi
	if command -v shellcheck >/dev/null 2>&1 && ! shellcheck -s bash "$file"; then
		status=1
	fi
	# shellcheck disable=SC2016 # expanded by the inner bash
	if ! bash -c '. "$1" && complete -p "$2"' sh "$file" "$tool" >/dev/null; then
		echo "$file: no completion for $tool"
		status=1
	fi
	# the options that begin --help's lines, before the description
	opts=$("$top_builddir/bin/$tool" --help | sed -n 's/^  *\(-[^ ].*\)$/\1/p' |
		sed 's/  .*//' | grep -o -- '--*[a-zA-Z][a-zA-Z-]*' | sort -u)
	for opt in $opts; do
		if ! grep -Eq -- "(^|[[:space:]'])$opt([[:space:]']|\$)" "$file"; then
			echo "$tool: $opt is in --help but not in $file"
			status=1
		fi
	done
done
exit $status
