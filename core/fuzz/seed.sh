#!/usr/bin/env bash
# Seeds the fuzz corpora with the binary envelopes and records of the test
# vectors, so the fuzzer starts from structurally valid inputs.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/decode_envelope corpus/decode_custodian_record
b64url() { local s="${1//-/+}"; s="${s//_//}"; while [ $(( ${#s} % 4 )) -ne 0 ]; do s="$s="; done; printf '%s' "$s" | base64 -d 2>/dev/null || true; }
for f in ../../tests/vectors/*.json; do
  name=$(basename "$f" .json)
  ct=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cipherText"].strip())' "$f")
  rec=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["custodianRecord"])' "$f")
  [[ "$ct" == wbk1.* ]] && b64url "${ct#wbk1.}" > "corpus/decode_envelope/$name"
  [[ "$rec" == wbc1.* ]] && b64url "${rec#wbc1.}" > "corpus/decode_custodian_record/$name"
done
echo "seeded $(ls corpus/decode_envelope | wc -l) envelopes, $(ls corpus/decode_custodian_record | wc -l) records"
