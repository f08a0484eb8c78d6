#!/bin/sh
# The system packages pytest-kosmos-dr needs, on Debian/Ubuntu: PostgreSQL server binaries (the sandbox),
# psql, curl, dig, git, unshare, and for the HTML report Java, npm and Chromium. Works as root and as a
# user (then through sudo). Installs only what is missing; the aws CLI goes into its own venv
# (/opt/awscli, or ~/.local/awscli as a user) because it pins botocore exactly.
# Usage: sh scripts/install-prerequisites.sh [--no-report]   (--no-report: skip Java, npm, Chromium)
set -eu

report=1
[ "${1:-}" = "--no-report" ] && report=0

if [ "$(id -u)" -eq 0 ]; then sudo=""; else
  command -v sudo >/dev/null || { echo "install-prerequisites: not root and no sudo: run it as root" >&2; exit 1; }
  sudo="sudo"
fi
command -v apt-get >/dev/null || { echo "install-prerequisites: no apt-get: install the packages listed in README.md by hand" >&2; exit 1; }

need=""
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$need postgresql"
command -v psql >/dev/null || need="$need postgresql-client"
command -v curl >/dev/null || need="$need curl"
command -v dig >/dev/null || need="$need bind9-dnsutils"
command -v git >/dev/null || need="$need git"
command -v unshare >/dev/null || need="$need util-linux"
python3 -c "import venv, ensurepip" 2>/dev/null || need="$need python3-venv"
if [ "$report" = 1 ]; then
  command -v chromium >/dev/null || need="$need chromium"
  command -v java >/dev/null || need="$need default-jre-headless"
  command -v npm >/dev/null || need="$need nodejs npm"
fi
if [ -n "$need" ]; then
  echo "==> apt-get install$need"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # shellcheck disable=SC2086 - word splitting is the list
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi
# PostgreSQL refuses to run as root: as root, the sandbox runs it as the 'postgres' OS user.
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi
if ! command -v aws >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then dest=/opt/awscli; link=/usr/local/bin/aws; else dest="$HOME/.local/awscli"; link="$HOME/.local/bin/aws"; fi
  echo "==> aws CLI into $dest"
  python3 -m venv "$dest" && "$dest/bin/pip" install -q awscli && mkdir -p "$(dirname "$link")" && ln -sf "$dest/bin/aws" "$link"
fi
command -v kubectl >/dev/null || echo "note: kubectl is not on PATH; the cluster checks need it (kosmos-dr doctor prints how to get it)"
echo "prerequisites installed; check with: kosmos-dr doctor"
