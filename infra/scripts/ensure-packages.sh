#!/usr/bin/env bash
# ensure-packages.sh CMD:PACKAGE ... — makes sure each command exists,
# installing its Debian package when missing. CMD may be a path pattern
# (/usr/lib/postgresql/*/bin/postgres) for binaries that are not on PATH. As root it uses apt-get; as
# anyone else it names the command to run and fails.
set -euo pipefail

missing=()
for pair in "$@"; do
	cmd=${pair%%:*}
	pkg=${pair#*:}
	if [[ $cmd == */* ]]; then
		compgen -G "$cmd" >/dev/null || missing+=("$pkg")
	else
		command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "missing system packages: ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "missing system packages: ${missing[*]} (no apt-get here; install them with your package manager)" >&2
	exit 1
fi
echo "installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
