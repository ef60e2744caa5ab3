#!/usr/bin/env bash
# Check that the documentation stands on its own in a fresh clone:
#   1. every relative link in the tracked Markdown files (README.md, docs/*.md and the others)
#      names a file or directory that is tracked in this repository, and does not climb out
#      of it; a #fragment into a Markdown file names one of its headings;
#   2. no tracked file points at material kept outside the repository (a sibling folder named
#      "shared" next to the checkout, or its reference/ subfolder): a clone does not have it.
# Usage: tests/check-docs.sh SOURCE_ROOT
#
# Links are [text](target), ![alt](target) and [label]: target definitions, outside fenced
# code blocks and `code spans`. A target with a scheme (https:, mailto:, ...) is not checked;
# otherwise its ?query is dropped and the path is resolved against the Markdown file's
# directory (or the repository root for a leading /). Heading anchors follow GitHub's rule for
# ASCII headings: lower case, punctuation dropped, spaces as '-', repeats numbered -1, -2, ...
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 SOURCE_ROOT" >&2
	exit 2
fi
cd "$1"
root=$(pwd -P)

# Tracked files when this is a git checkout (what a clone has); otherwise what is on disk.
in_git=0
git rev-parse --is-inside-work-tree >/dev/null 2>&1 && in_git=1

if [ $in_git = 1 ]; then
	mapfile -t docs < <(git ls-files '*.md')
else
	mapfile -t docs < <(find . -name '*.md' -not -path './.git/*' -not -path './build*' \
		-not -path './.run/*' | sed 's|^\./||' | sort)
fi
for f in README.md docs/configuration.md; do
	[ -r "$f" ] || { echo "check-docs: cannot read $f" >&2; exit 2; }
done

# Whether a repository-relative path is tracked (a file, or a directory holding tracked files).
tracked() {
	if [ $in_git = 1 ]; then
		[ -n "$(git ls-files -- "$1" | head -n 1)" ]
	else
		[ -e "$1" ]
	fi
}

# Print "LINE<TAB>TARGET" for every link of a Markdown file, code blocks and spans left out.
links() {
	awk '
		/^[ \t]*(```|~~~)/ { fence = !fence; next }
		fence { next }
		{
			line = $0
			gsub(/`[^`]*`/, "", line)
			if (match(line, /^[ \t]*\[[^]]+\]:[ \t]*[^ \t]+/)) {
				def = substr(line, RSTART, RLENGTH)
				sub(/^[ \t]*\[[^]]+\]:[ \t]*/, "", def)
				print NR "\t" def
			}
			while (match(line, /\]\([^)]*\)/)) {
				t = substr(line, RSTART + 2, RLENGTH - 3)
				line = substr(line, RSTART + RLENGTH)
				sub(/^[ \t]+/, "", t)
				sub(/[ \t].*$/, "", t)
				print NR "\t" t
			}
		}
	' "$1"
}

# Print the anchor of every heading of a Markdown file, code blocks left out.
anchors() {
	awk '
		/^[ \t]*(```|~~~)/ { fence = !fence; next }
		fence { next }
		/^#+[ \t]/ {
			h = $0
			sub(/^#+[ \t]+/, "", h)
			sub(/[ \t]+#+[ \t]*$/, "", h)
			gsub(/\]\([^)]*\)/, "", h)
			h = tolower(h)
			gsub(/[^a-z0-9 _-]/, "", h)
			gsub(/ /, "-", h)
			if (h in seen)
				print h "-" seen[h]++
			else {
				seen[h] = 1
				print h
			}
		}
	' "$1"
}

problems=()
n_links=0
for doc in "${docs[@]}"; do
	dir=$(dirname "$doc")
	while IFS=$'\t' read -r line target; do
		target=${target#<}
		target=${target%>}
		[ -z "$target" ] && continue
		[[ $target =~ ^[a-zA-Z][a-zA-Z0-9+.-]*: ]] && continue
		n_links=$((n_links + 1))
		frag=
		[ "${target#*#}" != "$target" ] && frag=${target#*#}
		path=${target%%#*}
		path=${path%%\?*}
		path=${path//%20/ }
		if [ -z "$path" ]; then
			abs=$root/$doc
		elif [ "${path#/}" != "$path" ]; then
			abs=$(realpath -m "$root/${path#/}")
		else
			abs=$(realpath -m "$root/$dir/$path")
		fi
		case $abs in
		"$root") rel=. ;;
		"$root"/*) rel=${abs#"$root"/} ;;
		*)
			problems+=("$doc:$line: link '$target' leaves the repository")
			continue
			;;
		esac
		if ! tracked "$rel"; then
			problems+=("$doc:$line: link '$target': $rel is not in the repository")
		elif [ -n "$frag" ] && [ "${rel%.md}" != "$rel" ] &&
			! anchors "$rel" | grep -qxF -- "$frag"; then
			problems+=("$doc:$line: link '$target': $rel has no heading #$frag")
		fi
	done < <(links "$doc")
done

# Mentions of the folder outside the repository. The patterns are written so that they do not
# match this file's own text.
outside=('\.\./share[d]' 'share[d]/reference/')
grep_args=()
for p in "${outside[@]}"; do
	grep_args+=(-e "$p")
done
if [ $in_git = 1 ]; then
	hits=$(git grep -nIE "${grep_args[@]}" || true)
else
	hits=$(grep -rnIE --exclude-dir=.git --exclude-dir='build*' --exclude-dir=.run \
		"${grep_args[@]}" . | sed 's|^\./||' || true)
fi
if [ -n "$hits" ]; then
	while IFS= read -r h; do
		problems+=("$h: refers to a folder outside the repository")
	done <<<"$hits"
fi

if [ "${#problems[@]}" -gt 0 ]; then
	echo "check-docs: the documentation points outside the repository or at missing files:" >&2
	printf '  %s\n' "${problems[@]}" >&2
	exit 1
fi
echo "check-docs: ${#docs[@]} Markdown files, $n_links relative links resolve; nothing refers outside the repository"
