#!/usr/bin/env bash
# Builds the fuzz corpora, fuzz/corpus/<target>/ (gitignored), from what is committed: the
# golden fixtures of crates/translate/tests/fixtures, the hand-written inputs of fuzz/seeds/
# and the regression inputs of fuzz/regressions/<target>/. Files are named by their SHA-1, as
# libFuzzer names what it adds, so running this again over a grown corpus only adds the
# missing seeds. Needs python3 (to pull the schemas out of the requests).
set -euo pipefail
fuzz="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
fixtures="$fuzz/../crates/translate/tests/fixtures"
corpus="$fuzz/corpus"

# add <target> <file>...: copies each file into the target's corpus under its content hash.
add() {
    local target=$1 file sum
    shift
    mkdir -p "$corpus/$target"
    for file in "$@"; do
        [[ -f "$file" ]] || continue
        sum=$(sha1sum "$file")
        cp "$file" "$corpus/$target/${sum%% *}"
    done
}

shopt -s nullglob
add chat_request "$fixtures"/*/request.json
add chat_translate "$fixtures"/*/request.json
add sse_decoder "$fixtures"/*/upstream_stream.sse "$fuzz"/seeds/sse/*
add stream_translate "$fixtures"/*/upstream_stream.sse "$fuzz"/seeds/sse/*
add schema_json "$fuzz"/seeds/schema/*
add schema_legacy "$fuzz"/seeds/schema/*
add v1beta_filter "$fuzz"/seeds/v1beta_filter/*
for dir in "$fuzz"/regressions/*/; do
    add "$(basename "$dir")" "$dir"*
done

# Derived seeds: each non-streamed Gemini answer as a one-event stream, and every schema the
# requests carry (tool parameters, legacy functions, response_format) on its own.
python3 - "$fixtures" "$corpus" <<'EOF'
import hashlib, json, pathlib, sys

fixtures, corpus = map(pathlib.Path, sys.argv[1:])

def add(target, data):
    out = corpus / target
    out.mkdir(parents=True, exist_ok=True)
    (out / hashlib.sha1(data).hexdigest()).write_bytes(data)

for answer in sorted(fixtures.glob("*/upstream_response.json")):
    event = json.dumps(json.loads(answer.read_text()), separators=(",", ":"))
    add("stream_translate", f"data: {event}\r\n\r\n".encode())

for request in sorted(fixtures.glob("*/request.json")):
    body = json.loads(request.read_text())
    schemas = [t.get("function", {}).get("parameters") for t in body.get("tools") or []]
    schemas += [f.get("parameters") for f in body.get("functions") or []]
    schemas.append(((body.get("response_format") or {}).get("json_schema") or {}).get("schema"))
    for schema in schemas:
        if schema is not None:
            data = json.dumps(schema, separators=(",", ":")).encode()
            add("schema_json", data)
            add("schema_legacy", data)
EOF

for dir in "$corpus"/*/; do
    printf '%-18s %4d inputs\n' "$(basename "$dir")" "$(find "$dir" -type f | wc -l)"
done
