#!/usr/bin/env bash
# Builds the host's release binary and packs it for distribution:
#   dist/s3-event-writer-VERSION-TARGET.tar.gz   one directory s3-event-writer-VERSION-TARGET/ with
#                                                the binary, README.md, docs/, LICENSE, CHANGELOG.md,
#                                                completions/ (bash, zsh, fish) and man/ (*.1)
#   dist/SHA256SUMS                              `sha256sum` lines of every archive in dist/
# VERSION is Cargo.toml's, TARGET the host triple (rustc -vV). The archive is reproducible from
# the same binary: entries sorted, owner root, modes normalised, times from the last commit
# (SOURCE_DATE_EPOCH when set), gzip without name or time stamp.
#
# Usage: scripts/package.sh [--profile PROFILE]   (default: release, or $S3EW_PROFILE)
# Builds with `cargo build --locked` into ./target, or CARGO_TARGET_DIR when it is set.
# Prints the archive's path as the last line. scripts/check-package.sh tests an archive.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${S3EW_PROFILE:-release}
while [ $# -gt 0 ]; do
  case $1 in
    --profile) profile=${2:?--profile needs a profile name}; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "package.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

for tool in cargo rustc tar gzip sha256sum; do
  command -v "$tool" >/dev/null || { echo "package.sh: $tool is not on PATH" >&2; exit 1; }
done
tar --version 2>/dev/null | grep -q 'GNU tar' ||
  { echo "package.sh: needs GNU tar (for --sort, --owner and --mtime)" >&2; exit 1; }

pkgid=$(cargo pkgid)
version=${pkgid##*[#@]}
target=$(rustc -vV | sed -n 's/^host: //p')
name="s3-event-writer-$version-$target"
target_dir=${CARGO_TARGET_DIR:-target}
case $profile in
  dev) out_dir=debug ;;
  *) out_dir=$profile ;;
esac

echo "== cargo build --locked --profile $profile ($target)"
cargo build --locked --profile "$profile" --bin s3-event-writer
bin="$target_dir/$out_dir/s3-event-writer"
[ -x "$bin" ] || { echo "package.sh: no binary at $bin after the build" >&2; exit 1; }

mkdir -p dist
stage=$(mktemp -d "dist/.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root="$stage/$name"
mkdir -p "$root/completions" "$root/man"
cp "$bin" "$root/s3-event-writer"
cp README.md LICENSE CHANGELOG.md "$root/"
# The README links into docs/: ship the pages so the links work inside the archive.
cp -R docs "$root/docs"
"$bin" completions bash >"$root/completions/s3-event-writer.bash"
"$bin" completions zsh >"$root/completions/_s3-event-writer"
"$bin" completions fish >"$root/completions/s3-event-writer.fish"
"$bin" man --dir "$root/man"

epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
archive="dist/$name.tar.gz"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
  --mode='u+rwX,go+rX,go-w' -C "$stage" -cf - "$name" | gzip -9n >"$archive.tmp"
mv "$archive.tmp" "$archive"

(
  cd dist
  shopt -s nullglob
  files=(*.tar.gz *.zip)
  sha256sum -- "${files[@]}" >SHA256SUMS.tmp
  mv SHA256SUMS.tmp SHA256SUMS
)
echo "== $(du -h "$archive" | cut -f1) $archive (binary $(du -h "$bin" | cut -f1)); dist/SHA256SUMS:"
sed 's/^/   /' dist/SHA256SUMS
echo "$archive"
