#!/usr/bin/env bash
# Check that every configuration key in common/config/config.c is documented: every key (global,
# source and versori) in docs/configuration.md, and every global key's variable in
# deploy/dev/hookrun.env.example (house style, after PgBouncer's optscan).
# Usage: tests/check-config-docs.sh SOURCE_ROOT
#
# The key tables in common/config/config.c start each row with a line such as
#	{ GLOBAL_KEY("listen_port", "HOOKRUN_LISTEN_PORT", listen_port, KEY_INT),
#	{ SOURCE_KEY("auth", "AUTH", auth, KEY_ENUM),
# and this script reads exactly those lines.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 SOURCE_ROOT" >&2
	exit 2
fi
root=$1
config_c="$root/common/config/config.c"
docs="$root/docs/configuration.md"
env_example="$root/deploy/dev/hookrun.env.example"

for f in "$config_c" "$docs" "$env_example"; do
	[ -r "$f" ] || { echo "check-config-docs: cannot read $f" >&2; exit 2; }
done

row='^[[:space:]]*\{[[:space:]]*(GLOBAL|SOURCE|VERSORI)_KEY\("([a-z0-9_]+)",[[:space:]]*"([A-Z0-9_]+)"'
rows=$(grep -E "$row" "$config_c" | sed -E "s/$row.*/\1 \2 \3/")

n_global=$(grep -c '^GLOBAL ' <<<"$rows" || true)
n_source=$(grep -c '^SOURCE ' <<<"$rows" || true)
if [ "$n_global" -eq 0 ] || [ "$n_source" -eq 0 ]; then
	echo "check-config-docs: found $n_global global and $n_source source keys in $config_c;" \
		"has the table format changed?" >&2
	exit 2
fi

missing=()
while read -r kind key env; do
	# A key is documented when it appears in backquotes, as in the reference tables.
	grep -qF "\`$key\`" "$docs" || missing+=("$key: not in docs/configuration.md")
	if [ "$kind" = GLOBAL ]; then
		grep -qF "\`$env\`" "$docs" || missing+=("$env: not in docs/configuration.md")
		grep -qE "^#?[[:space:]]*$env=" "$env_example" ||
			missing+=("$env: not in deploy/dev/hookrun.env.example")
	fi
done <<<"$rows"

if [ "${#missing[@]}" -gt 0 ]; then
	echo "check-config-docs: undocumented configuration:" >&2
	printf '  %s\n' "${missing[@]}" >&2
	exit 1
fi
n_versori=$(grep -c "^VERSORI " <<<"$rows" || true)
echo "check-config-docs: $n_global global, $n_source source and $n_versori versori keys documented"
