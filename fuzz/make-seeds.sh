#!/usr/bin/env bash
# Makes seed inputs for the fuzz targets: encrypted objects of several sizes under the fixed
# fuzzing key, and manifests from a real backup.
set -euo pipefail
cd "$(dirname "$0")"
bin=${RUNBOOK:-../target/release/runbook}
mkdir -p seeds/decrypt seeds/manifest
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
echo "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" > "$work/key"
for size in 0 1 100 4096 1048519 1048520 1048521 2200000; do
    head -c "$size" /dev/urandom > "$work/plain-$size"
    "$bin" encrypt "$work/plain-$size" --key-file "$work/key" -o "seeds/decrypt/object-$size" 2>/dev/null
done
mkdir -p "$work/app/config" && echo "A=1" > "$work/app/.env" && echo "{}" > "$work/app/config/x.json"
cat > "$work/b.rhai" <<'RHAI'
runbook(#{ title: "seed" });
storage("store").backup("seed", archive(#{ paths: ["app"] }), key(secret("K")));
RHAI
touch "$work/runbook.toml"
(cd "$work" && K=$(cat key) "$bin" run b.rhai >/dev/null)
cp "$work"/store/seed/*/manifest.json seeds/manifest/manifest.json
echo "seeds written to fuzz/seeds/"
